"""What a moderation first tier costs: Qwen3Guard-sized twins against the 4B judge's --no-think.

Every model judges the SAME safety items in one run: RM-Bench chat prompts with a response each
(response moderation: the guard reads its safety label, the first category, finishes the line and
reads the refusal; mR3 reads its true/false verdict with no explanation and no thinking), and the
same prompts alone (prompt moderation). Each model runs in a fresh process (its peak resident
memory, ru_maxrss, is its own): load, one warm-up item (the prompt's fixed head goes into the
prefix cache), then the items through ``Judge.score_many`` (what ``edgejudge score`` runs), timed.
Tuning is off for every model (EDGEJUDGE_TUNE=0: llama.cpp's defaults for all, so the comparison
is like for like and no model pays minutes of tuning here), and every model runs on the same
number of threads (--threads, default 1: on a shared, oversubscribed machine two threads wait at
llama.cpp's per-operation barriers for each other to be scheduled, which made a 0.6B decode take
seconds; one thread has no barrier to wait at).

    python benchmarks/bench_guard_cost.py --items 8 \\
        ~/.cache/edgejudge-twins/qwen3-0.6b/qwen3-0.6b-Q4_K_M.gguf \\
        ~/.cache/edgejudge-twins/qwen3-1.7b/qwen3-1.7b-Q4_K_M.gguf \\
        ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf

The twins carry their family in their metadata (qwen3-0.6b and qwen3-1.7b: guard; qwen3-4b: mr3).
The last model is the reference: each line gives its time per item as a multiple of the
reference's. The weights are random: nothing here says anything about accuracy.
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

LINE_TOKENS = 3  # what a trained model writes to end its categories line after one category (", X\n" or "\n")


def items(n: int, target: str, repeat: int = 1) -> list[dict]:
    """n items with distinct prompts (RM-Bench has several pairs per prompt: a repeated prompt
    would be read from the KV cache and flatter prompt moderation)."""
    out, seen = [], set()
    for pair in rmbench.pairs():
        if pair["prompt"] in seen:
            continue
        seen.add(pair["prompt"])
        item = {"id": pair["id"], "task": "safety", "target": target, "prompt": pair["prompt"]}
        if target == "response":
            item["response"] = "\n\n".join([pair["chosen"]] * repeat)  # --repeat: longer items
        out.append(item)
    if len(out) < n:
        raise SystemExit(f"RM-Bench's chat file has {len(out)} distinct prompts, fewer than {n}")
    return out[:n]


def child(config: dict) -> dict:
    from edgejudge import Judge

    work = items(config["items"] + 1, config["target"], config.get("repeat", 1))
    t0 = time.perf_counter()
    with Judge.load(config["model"], workload="no_think", calibration=False) as judge:
        load_s = time.perf_counter() - t0
        options = {"think": False, "explain": False}
        list(judge.score_many(work[:1], window=1, **options))
        started = time.perf_counter()
        records = list(judge.score_many(work[1:], window=1, **options))
        score_s = time.perf_counter() - started
        family, threads = judge.format.family, judge.info.threads
    bad = [r for r in records if r.get("status", "ok") != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} items failed: {bad[0].get('error')}")
    # A random-weight twin never writes the newline that ends Qwen3Guard's categories line, so the
    # line runs to its token budget; a trained model ends it after the first category or two.
    lead = [(r["timings"].get("refusal_lead_s", 0.0), r["timings"]["generated_tokens"]) for r in records]
    return {"family": family, "threads": threads, "load_s": load_s, "score_s": score_s,
            "prompt_tokens": [r["timings"]["prompt_tokens"] for r in records],
            "reused_tokens": [r["timings"]["reused_tokens"] for r in records],
            "prompt_s": sum(r["timings"]["prompt_s"] for r in records),
            "line_end_s": sum(s for s, _ in lead), "line_end_tokens": sum(n for _, n in lead),
            "line_end_s_at_3_tokens": sum(s / n * min(n, LINE_TOKENS) for s, n in lead if n)}


def run(config: dict, home: str) -> dict:
    env = {**os.environ, "EDGEJUDGE_HOME": home, "EDGEJUDGE_TUNE": "0", "EDGEJUDGE_THREADS": str(config["threads"])}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(config)], stdout=out, stderr=err,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{config['model']} failed: {stderr.strip()[-800:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_rss": usage.ru_maxrss * 1024}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="GGUF files; the last one is the reference (the 4B judge)")
    parser.add_argument("--items", type=int, default=8, help="timed items per model and target (default 8)")
    parser.add_argument("--targets", default="response,prompt", help="what to moderate (default response,prompt)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="repeat each response this many times (long items: the fixed tokens weigh less)")
    parser.add_argument("--threads", type=int, default=1, help="threads for every model (default 1)")
    parser.add_argument("--json", action="store_true", help="one JSON object per measurement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if not args.models:
        parser.error("give the GGUF files, the reference (the 4B judge) last")
    print(f"load average before: {loadavg()}", file=sys.stderr)
    results = []
    for target in args.targets.split(","):
        for model in args.models:
            home = tempfile.mkdtemp(prefix="edgejudge-guard-cost-")
            result = {"model": Path(model).name, "target": target,
                      **run({"model": model, "items": args.items, "target": target, "threads": args.threads,
                             "repeat": args.repeat}, home)}
            result["s_per_item"] = result["score_s"] / args.items
            result["items_per_s"] = args.items / result["score_s"]
            result["s_per_item_trained_line"] = (result["score_s"] - result["line_end_s"]
                                                 + result["line_end_s_at_3_tokens"]) / args.items
            results.append(result)
            if args.json:
                print(json.dumps(result), flush=True)
    print(f"load average after: {loadavg()}", file=sys.stderr)
    if args.json:
        return
    for target in args.targets.split(","):
        rows = [r for r in results if r["target"] == target]
        reference = rows[-1]
        print(f"{target} moderation, {args.items} items each (RM-Bench chat prompts{' + chosen responses' if target == 'response' else ''})")
        for r in rows:
            print(f"  {r['model']} ({r['family']}, {r['threads']} threads): {r['s_per_item']:.2f} s per item, "
                  f"{r['items_per_s']:.2f} items/s, {r['s_per_item'] / reference['s_per_item']:.2f}x the "
                  f"reference; prompts {min(r['prompt_tokens'])}-{max(r['prompt_tokens'])} tokens "
                  f"({min(r['reused_tokens'])}-{max(r['reused_tokens'])} reused); load {r['load_s']:.1f} s; "
                  f"peak RSS {r['peak_rss'] / 2**30:.2f} GiB")
            evaluated = [p - u for p, u in zip(r["prompt_tokens"], r["reused_tokens"])]
            print(f"    {r['prompt_s'] / args.items:.2f} s per item evaluating the prompt's {min(evaluated)}-"
                  f"{max(evaluated)} new tokens ({sum(evaluated) / r['prompt_s']:.1f} tokens/s)")
            if r["line_end_tokens"]:
                print(f"    {r['line_end_s'] / args.items:.2f} s writing {r['line_end_tokens'] // args.items} tokens to end "
                      f"the categories line; with the {LINE_TOKENS} a trained model writes: "
                      f"{r['s_per_item_trained_line']:.2f} s per item, "
                      f"{r['s_per_item_trained_line'] / reference['s_per_item']:.2f}x the reference (estimate)")


if __name__ == "__main__":
    main()
