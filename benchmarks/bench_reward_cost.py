"""What a first-tier reward model costs against a judge, on the same RM-Bench items in one run.

For each GGUF (full-size twins from benchmarks/twins.py: a Skywork-Reward-V2-Qwen3 twin is the
base model's shapes, the real vocabulary and a score head, random weights; the judge is the
Qwen3-4B twin), in a fresh process each, so that the peak resident memory (ru_maxrss) is that
model's own: tuning on first use (timed apart), then `score` in steady state: one pair first
(not timed), then N RM-Bench chat pairs through ``Judge.score_many`` (as ``edgejudge score`` runs
them, one at a time), the judge with ``--no-think --no-explain``. Printed: seconds per item,
items per second, peak memory, each model's time per item over the judge's (the last model
given), and the load average before and after each model (the machine may be shared).

On a shared machine the load changes while one model after the other runs, which skews the
ratio. ``--interleave`` also runs all models in one process, taking turns item by item (each
model's KV cache stays its own), so every model meets the same load: its seconds per item and
ratios are printed apart (peak memory is only the separate processes').

    python benchmarks/bench_reward_cost.py \\
        ~/.cache/edgejudge-twins/skywork-reward-v2-qwen3-0.6b/skywork-reward-v2-qwen3-0.6b-Q8_0.gguf \\
        ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf --pairs 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rmbench  # noqa: E402


def items(n: int) -> list[dict]:
    return [{"id": p["id"], "task": "pairwise", "prompt": p["prompt"], "response_a": p["chosen"],
             "response_b": p["rejected"]} for p in rmbench.pairs(n)]


def child(config: dict) -> dict:
    from edgejudge import Judge

    pairs = items(config["pairs"] + 1)
    t0 = time.perf_counter()
    with Judge.load(config["model"], workload="no_think") as judge:
        load_s = time.perf_counter() - t0
        family = judge.format.family
        if config["mode"] == "tune":
            return {"load_s": load_s, "family": family}
        list(judge.score_many(pairs[:1], think=False, explain=False, window=1))
        started = time.perf_counter()
        records = list(judge.score_many(pairs[1:], think=False, explain=False, window=1))
        seconds = time.perf_counter() - started
    bad = [r for r in records if r.get("status", "ok") != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} items failed: {bad[0].get('error')}")
    return {"load_s": load_s, "family": family, "score_s": seconds,
            "prompt_tokens": [r["timings"]["prompt_tokens"] for r in records],
            "reused_tokens": [r["timings"]["reused_tokens"] for r in records]}


def interleaved(config: dict) -> dict:
    """All models in one process, taking turns on each pair: seconds per item under the same load."""
    from edgejudge import Judge

    pairs = items(config["pairs"] + 1)
    judges = [Judge.load(model, workload="no_think") for model in config["models"]]
    seconds = [0.0] * len(judges)
    try:
        for judge in judges:
            list(judge.score_many(pairs[:1], think=False, explain=False, window=1))
        for pair in pairs[1:]:
            for k, judge in enumerate(judges):
                started = time.perf_counter()
                record = next(iter(judge.score_many([pair], think=False, explain=False, window=1)))
                seconds[k] += time.perf_counter() - started
                if record.get("status", "ok") != "ok":
                    raise SystemExit(f"{config['models'][k]}: {record.get('error')}")
    finally:
        for judge in judges:
            judge.close()
    return {"s_per_item": [s / config["pairs"] for s in seconds]}


def run(config: dict, home: str) -> dict:
    env = {**os.environ, "EDGEJUDGE_HOME": home}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(config)], stdout=out, stderr=err,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        out.seek(0), err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{config['model']} {config['mode']} failed (exit {code}): "
                             f"{err.read().decode().strip()[-800:]}")
        record = json.loads(out.read().decode().strip().splitlines()[-1])
    record["peak_rss"] = usage.ru_maxrss * 1024
    return record


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").is_file() else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="GGUF files; the last one is the judge the others are compared with")
    parser.add_argument("--pairs", type=int, default=8, help="timed RM-Bench pairs per model (default 8)")
    parser.add_argument("--json", action="store_true", help="one JSON object per model")
    parser.add_argument("--interleave", action="store_true",
                        help="also time all models in one process, taking turns item by item (same load)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config = json.loads(args.child)
        print(json.dumps(interleaved(config) if config["mode"] == "interleave" else child(config)))
        return
    if not args.models:
        parser.error("give the reward model GGUFs, then the judge's")
    results = []
    for model in args.models:
        home = tempfile.mkdtemp(prefix="edgejudge-reward-cost-")
        before = loadavg()
        t0 = time.perf_counter()
        tuned = run({"model": model, "pairs": args.pairs, "mode": "tune"}, home)
        tune_s = time.perf_counter() - t0
        score = run({"model": model, "pairs": args.pairs, "mode": "score"}, home)
        per_item = score["score_s"] / args.pairs
        results.append({"model": model, "family": tuned["family"], "tune_s": round(tune_s, 1),
                        "s_per_item": round(per_item, 3), "items_per_s": round(1 / per_item, 3),
                        "peak_rss": score["peak_rss"], "prompt_tokens": score["prompt_tokens"],
                        "reused_tokens": score["reused_tokens"], "loadavg_before": before, "loadavg_after": loadavg()})
    judge = results[-1]
    for result in results:
        result["vs_judge"] = round(result["s_per_item"] / judge["s_per_item"], 3)
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        tokens = result["prompt_tokens"]
        print(f"{Path(result['model']).name} ({result['family']})")
        print(f"  score: {result['s_per_item']} s per item, {result['items_per_s']} items/s over {args.pairs} "
              f"RM-Bench pairs ({min(tokens)}-{max(tokens)} prompt tokens per item, {sum(result['reused_tokens'])} "
              f"of all {sum(tokens)} reused from the cache); peak RSS {result['peak_rss'] / 2**30:.2f} GiB; "
              f"{result['vs_judge']}x the judge's time per item")
        print(f"  first use (tuning, then a load): {result['tune_s']} s; load average "
              f"{result['loadavg_before']} before, {result['loadavg_after']} after")
    if args.interleave:
        before = loadavg()
        turns = run({"models": args.models, "pairs": args.pairs, "mode": "interleave"},
                    tempfile.mkdtemp(prefix="edgejudge-reward-cost-"))
        print(f"interleaved, one process, taking turns on each of {args.pairs} pairs (load average {before} "
              f"before, {loadavg()} after):")
        for model, per_item in zip(args.models, turns["s_per_item"]):
            print(f"  {Path(model).name}: {per_item:.3f} s per item, {1 / per_item:.3f} items/s, "
                  f"{per_item / turns['s_per_item'][-1]:.3f}x the judge's time per item")


if __name__ == "__main__":
    main()
