"""What probes cost while a judge reasons, and the anytime mechanism end to end.

**Cost** (a GGUF, normally a full-size random-weight twin from benchmarks/twins.py): for each
reasoning family the file can stand in for, one RM-Bench chat pair is judged with reasoning under a
budget, probing every ``--dense`` tokens so that many probes are timed beside the reasoning they
interrupt. Printed per family: the tokens one probe evaluates (the reasoning close and verdict
prefix, the labels' shared tokens, and the extra decodes where labels part later), its cost in ms,
the reasoning's own ms per token, and what probes cost as a share of reasoning time at each
interval of ``--every`` (one probe at token 0, one per interval, and up to one more per half
interval at transitions: the worst case is given too). Random weights: the text means nothing and
no saving of reasoning can be measured here; only the cost is.

**Curve** (``--curve N``): SmolLM2-135M, prompted as an mR3 judge (ChatML, an open ``<think>``
block), reasons on N RM-Bench chat pairs (the better response as A on even items, as B on odd ones)
under a small budget with probes; the report is ``trust/anytime.py``'s curve against RM-Bench's
labels. SmolLM2 is not a judge: this tests the mechanism, not a judge's accuracy.

    python benchmarks/bench_probes.py ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf
    python benchmarks/bench_probes.py --curve 36 --budget 128
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rmbench  # noqa: E402

RUBRIC = "1. The response answers the question correctly.\n2. The response is clear and complete."


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def pair_item(i: int, pair: dict) -> dict:
    a, b = (pair["chosen"], pair["rejected"]) if i % 2 == 0 else (pair["rejected"], pair["chosen"])
    return {"id": pair["id"], "task": "pairwise", "prompt": pair["prompt"], "response_a": a, "response_b": b,
            "label": "A" if i % 2 == 0 else "B"}


def probe_tokens(judge, fmt, item) -> dict:
    """What one probe feeds: its text, the labels' shared tokens, and the decodes after them."""
    from edgejudge.formats import JudgeOptions
    from edgejudge.items import make_item

    plan = fmt.plan(make_item(item), JudgeOptions(explain=False))
    probe = plan.steps[0].probe
    engine = judge.engine
    paths = engine.label_paths(probe.labels, probe.text, probe.terminator)
    from edgejudge.backends.llama.labels import shared_prefix

    shared = shared_prefix(list(paths.values()))
    text = engine.model.tokenize(probe.text)
    firsts = {tuple(p[len(shared):len(shared) + 1]) for p in paths.values()}
    extra = 0 if len(firsts) == len(paths) else sum(len(p) - len(shared) - 1 for p in paths.values())
    return {"text": probe.text, "labels": list(probe.labels), "text_tokens": len(text), "shared_tokens": len(shared),
            "extra_decoded_tokens": extra, "evaluated": len(text) + len(shared) + extra}


def families_of(model: str) -> tuple[str, ...]:
    """The reasoning families a twin stands in for (benchmarks/twins.py --list): by its name."""
    return ("rmr1",) if "r1-distill" in Path(model).name else ("mr3", "rubricrm")


def share(ratio: float, every: int, budget: int) -> dict:
    """Probes' share of reasoning time over ``budget`` tokens at interval ``every``, a probe costing
    ``ratio`` reasoning tokens: typical (token 0 and one per interval) and worst (a transition probe
    every half interval)."""
    typical = 1 + budget // every
    worst = 1 + budget // max(1, every // 2)
    return {"typical": typical * ratio / budget, "worst": worst * ratio / budget}


def cost(model: str, budget: int, dense: int, intervals: list[int], threads: int | None,
         families: tuple[str, ...], budgets: list[int]) -> list[dict]:
    from edgejudge import Judge
    from edgejudge.formats import Format

    pair = rmbench.pairs(1)[0]
    results = []
    with Judge.load(model, workload="think", calibration=False,
                    **({"threads": threads} if threads else {})) as judge:
        for family in families:
            fmt = judge.format if family == judge.format.family else Format(family)
            judge.format = fmt
            item = {**pair_item(0, pair)}
            item.pop("label")
            if family == "rubricrm":
                item["rubric"] = RUBRIC
            tokens = probe_tokens(judge, fmt, item)
            judge.engine.truncate(0)
            load = loadavg()
            t0 = time.perf_counter()
            record = judge.judge(item, think=True, think_budget=budget, explain=False, probe_every=dense).to_dict()
            wall = time.perf_counter() - t0
            timing = record["timings"]
            probes = len(record["probes"])
            probe_ms = 1000 * timing.get("probes_s", 0.0) / max(probes, 1)
            thought = record["think_tokens"]
            token_ms = 1000 * (timing["reasoning_s"] - timing.get("probes_s", 0.0)) / max(thought, 1)
            ratio = probe_ms / token_ms if token_ms else 0.0
            shares = {f"{every}/{over}": share(ratio, every, over) for every in intervals for over in budgets}
            results.append({"model": Path(model).name, "family": family, "threads": judge.info.threads,
                            "think_tokens": thought, "think_exit": record["think_exit"], "probes": probes,
                            "probe_ms": round(probe_ms, 1), "token_ms": round(token_ms, 1),
                            "probe_in_tokens": round(probe_ms / token_ms, 2) if token_ms else None,
                            "tokens": tokens, "shares": shares, "wall_s": round(wall, 1),
                            "loadavg_before": load, "loadavg_after": loadavg()})
    return results


def curve(n: int, budget: int, every: int, min_think: int, seed: int) -> dict:
    from edgejudge import Judge
    from edgejudge.formats import Format, JudgeOptions
    from edgejudge.trust import anytime

    items = [pair_item(i, p) for i, p in enumerate(rmbench.pairs(n))]
    golds = [{"id": it["id"], "label": it["label"]} for it in items]
    options = JudgeOptions(think=True, think_budget=budget, explain=False, probe_every=every, min_think=min_think,
                           seed=seed)
    load = loadavg()
    t0 = time.perf_counter()
    with Judge.load("smollm2-135m", threads=1, calibration=False) as judge:
        judge.format = Format("mr3")  # ChatML with an open <think> block: SmolLM2 speaks ChatML
        records = [judge.judge({k: v for k, v in it.items() if k != "label"}, options).to_dict() for it in items]
    result = anytime.curve(golds, records, min_think=min_think)
    exits: dict = {}
    for r in records:
        exits[r["think_exit"]] = exits.get(r["think_exit"], 0) + 1
    return {"items": n, "budget": budget, "probe_every": every, "min_think": min_think, "seed": seed,
            "exits": exits, "probes_per_item": statistics.fmean(len(r["probes"]) for r in records),
            "seconds": round(time.perf_counter() - t0, 1), "loadavg_before": load, "loadavg_after": loadavg(),
            "curve": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="GGUF files (twins)")
    parser.add_argument("--budget", type=int, default=256, help="reasoning tokens (default 256)")
    parser.add_argument("--dense", type=int, default=16, help="probe interval of the cost run (default 16)")
    parser.add_argument("--every", default="128,256,512", help="intervals to report shares for")
    parser.add_argument("--over", default="1000,8192", help="reasoning lengths to report shares over")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: edgejudge's)")
    parser.add_argument("--families", default=None, help="families to probe as (default: from the twin's name)")
    parser.add_argument("--curve", type=int, default=0, metavar="N", help="run the SmolLM2 curve on N pairs")
    parser.add_argument("--curve-every", type=int, default=16)
    parser.add_argument("--min-think", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    intervals = [int(x) for x in args.every.split(",")]
    for model in args.models:
        families = tuple(args.families.split(",")) if args.families else families_of(model)
        budgets = [int(x) for x in args.over.split(",")]
        for row in cost(model, args.budget, args.dense, intervals, args.threads, families, budgets):
            if args.json:
                print(json.dumps(row), flush=True)
                continue
            t = row["tokens"]
            print(f"{row['model']} as {row['family']} ({row['threads']} threads; load {row['loadavg_before']} -> "
                  f"{row['loadavg_after']})")
            print(f"  probe text {t['text']!r} + labels {t['labels']}: {t['evaluated']} tokens evaluated "
                  f"({t['text_tokens']} text, {t['shared_tokens']} shared by the labels, {t['extra_decoded_tokens']} "
                  f"in later decodes)")
            print(f"  {row['probes']} probes over {row['think_tokens']} reasoning tokens ({row['think_exit']}): "
                  f"{row['probe_ms']} ms a probe, {row['token_ms']} ms a reasoning token "
                  f"(a probe = {row['probe_in_tokens']} tokens of reasoning)")
            for key, part in row["shares"].items():
                every, over = key.split("/")
                print(f"  --probe-every {every}: probes {100 * part['typical']:.1f}% of reasoning time over {over} "
                      f"tokens ({100 * part['worst']:.1f}% with a transition probe every half interval)")
    if args.curve:
        result = curve(args.curve, args.budget, args.curve_every, args.min_think, args.seed)
        if args.json:
            print(json.dumps(result))
            return
        print(f"SmolLM2-135M prompted as mR3 on {args.curve} RM-Bench chat pairs, budget {args.budget}, probes every "
              f"{args.curve_every}, min-think {args.min_think} ({result['seconds']} s; load {result['loadavg_before']} "
              f"-> {result['loadavg_after']}); exits {result['exits']}, {result['probes_per_item']:.1f} probes an item")
        from edgejudge.trust import anytime

        print("\n".join(anytime.summary_lines(result["curve"])))


if __name__ == "__main__":
    main()
