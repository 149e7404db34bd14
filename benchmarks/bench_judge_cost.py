"""What one verdict costs on a judge-sized model: seconds and peak memory, without and with thinking.

For each GGUF (the full-size twins of benchmarks/twins.py: the judge's architecture, widths and
vocabulary, random weights), each measurement runs in a fresh process, so that its peak resident
memory (ru_maxrss) is its own:

* **one-shot, cold**: `edgejudge judge --no-think --no-explain` on an RM-Bench chat pair, the
  prefix cache empty (what the first call on a machine costs, once tuned);
* **one-shot, warm**: the same again, the prompt's head now loaded from the prefix cache (every
  later one-shot call);
* **score**: N more pairs in one process (`Judge.score_many`, as `edgejudge score` runs them)
  after a first one, seconds per verdict in steady state;
* **thinking**: `edgejudge judge --think --think-budget B --no-explain`, seconds per 1,000
  thinking tokens (the
  reasoning step's time over the tokens it generated; a random-weight twin may end its reasoning
  early, and the count says so).

Wall times are measured by this process around each child (interpreter start and model load
included). Tuning runs once per model and workload before anything is timed, in a benchmark home
of its own, and its time is printed apart. The figures go to the README and docs/speed.md.

    python benchmarks/bench_judge_cost.py ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf --pairs 4
    python benchmarks/bench_judge_cost.py TWIN.gguf --think-budget 1000 --json
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
    return [{"id": p["id"], "prompt": p["prompt"], "response_a": p["chosen"], "response_b": p["rejected"]}
            for p in rmbench.pairs(n)]


def child(config: dict) -> dict:
    from edgejudge import Judge

    think = config["mode"] == "think" or config.get("think", False)
    workload = "think" if think else "no_think"
    pairs = items(config["pairs"] + 1)
    t0 = time.perf_counter()
    with Judge.load(config["model"], workload=workload) as judge:
        load_s = time.perf_counter() - t0
        info = judge.info
        if config["mode"] == "tune":
            return {"load_s": load_s, "settings": {"repack": info.extra_bufts, "flash": info.flash_attn}, "timings": []}
        if config["mode"] == "think":
            verdict = judge.judge(pairs[0], think=True, think_budget=config["think_budget"], explain=False)
            records = [verdict.to_dict()]
        elif config["mode"] == "score":
            list(judge.score_many(pairs[:1], think=False, explain=False, window=1))
            started = time.perf_counter()
            records = list(judge.score_many(pairs[1:], think=False, explain=False, window=1))
            config["score_s"] = time.perf_counter() - started
        else:
            records = [judge.judge(pairs[0], think=False, explain=False).to_dict()]
    bad = [r for r in records if r.get("status", "ok") != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} items failed: {bad[0].get('error')}")
    return {**config, "load_s": load_s,
            "settings": {"repack": info.extra_bufts, "flash": info.flash_attn, "batch": f"{info.n_batch}/{info.n_ubatch}",
                         "threads": info.threads},
            "timings": [r["timings"] for r in records], "think_tokens": sum(r.get("think_tokens", 0) for r in records)}


def run(config: dict, home: str) -> tuple[dict, float]:
    """Run one measurement in a fresh process; its record, and the wall time around it."""
    env = {**os.environ, "EDGEJUDGE_HOME": home}
    if config["mode"] in ("oneshot", "think"):
        think = ["--think", "--think-budget", str(config["think_budget"])] if config["mode"] == "think" else ["--no-think"]
        command = [sys.executable, "-m", "edgejudge", "judge", "-m", config["model"], "--json",
                   json.dumps(items(1)[0]), "--no-explain", *think]
    else:
        command = [sys.executable, __file__, "--child", json.dumps(config)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (peak RSS), not all children's
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{config['mode']} failed (exit {proc.returncode}): {stderr.strip()[-800:]}")
    record = json.loads(stdout.strip().splitlines()[-1])
    if "settings" not in record:  # a verdict from the CLI
        record = {"timings": [record["timings"]], "think_tokens": record.get("think_tokens", 0)}
    record["peak_rss"] = usage.ru_maxrss * 1024
    return record, wall


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="GGUF files (or store ids)")
    parser.add_argument("--pairs", type=int, default=4, help="pairs for the score figure (default 4)")
    parser.add_argument("--think-budget", type=int, default=1000, help="thinking tokens (default 1000; 0 skips)")
    parser.add_argument("--json", action="store_true", help="one JSON object per model")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if not args.models:
        parser.error("give at least one GGUF file")
    for model in args.models:
        home = tempfile.mkdtemp(prefix="edgejudge-cost-")
        base = {"model": model, "pairs": args.pairs, "think_budget": args.think_budget}
        t0 = time.perf_counter()
        tuned, _ = run({**base, "mode": "tune"}, home)  # tuning on first use: one record for both workloads
        tune_s = time.perf_counter() - t0
        cold, cold_wall = run({**base, "mode": "oneshot"}, home)
        warm, warm_wall = run({**base, "mode": "oneshot"}, home)
        score, score_wall = run({**base, "mode": "score"}, home)
        result = {"model": model, "tune_s": round(tune_s, 1), "settings_no_think": tuned["settings"],
                  "oneshot_cold_s": round(cold_wall, 2), "oneshot_warm_s": round(warm_wall, 2),
                  "oneshot_cold": cold["timings"][0], "oneshot_warm": warm["timings"][0],
                  "oneshot_peak_rss": max(cold["peak_rss"], warm["peak_rss"]),
                  "score_s_per_verdict": round(score["score_s"] / args.pairs, 2),
                  "score_prompt_tokens": [t["prompt_tokens"] for t in score["timings"]],
                  "score_peak_rss": score["peak_rss"]}
        if args.think_budget:
            tuned, _ = run({**base, "mode": "tune", "think": True}, home)  # the think workload's choice
            think, think_wall = run({**base, "mode": "think"}, home)
            timing = think["timings"][0]
            result.update({"settings_think": tuned["settings"],
                           "think_wall_s": round(think_wall, 2), "think_tokens": think["think_tokens"],
                           "reasoning_s": timing.get("reasoning_s"),
                           "s_per_1000_think_tokens": round(1000 * timing["reasoning_s"] / think["think_tokens"], 1)
                           if think["think_tokens"] else None,
                           "think_peak_rss": think["peak_rss"]})
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(f"{Path(model).name}")
        print(f"  first use (tuning, then a load): {result['tune_s']} s; no-think settings {result['settings_no_think']}")
        c, w = result["oneshot_cold"], result["oneshot_warm"]
        print(f"  one-shot --no-think, cold prefix cache: {result['oneshot_cold_s']} s wall "
              f"({c['prompt_tokens']} prompt tokens, {c['prompt_s']:.2f} s evaluating)")
        print(f"  one-shot --no-think, warm prefix cache: {result['oneshot_warm_s']} s wall "
              f"({w['prefix_cache_tokens']} tokens from the cache, {w['prompt_s']:.2f} s evaluating); "
              f"peak RSS {gib(result['oneshot_peak_rss'])}")
        print(f"  score --no-think: {result['score_s_per_verdict']} s per verdict over {args.pairs} pairs "
              f"(prompts of {min(result['score_prompt_tokens'])}-{max(result['score_prompt_tokens'])} tokens); "
              f"peak RSS {gib(result['score_peak_rss'])}")
        if args.think_budget and not result["think_tokens"]:
            print("  thinking: no thinking tokens (the model's format does not reason, or it ended at once)")
        elif args.think_budget:
            print(f"  thinking (settings {result['settings_think']}): "
                  f"{result['think_tokens']} tokens in {result['reasoning_s']:.1f} s = "
                  f"{result['s_per_1000_think_tokens']} s per 1,000 thinking tokens; {result['think_wall_s']} s wall "
                  f"for the verdict; peak RSS {gib(result['think_peak_rss'])}")


if __name__ == "__main__":
    main()
