"""Cold vs warm prefix cache: one-shot `edgejudge judge --no-think --no-explain` on a short mR3 pair.

Each run is a fresh process (model load included), as a user's shell runs it. "cold" clears the
prefix cache first; "warm" runs with the file the cold run saved. Target: warm <= 0.35x cold.
The machine may be shared: runs alternate cold/warm, and min/median/max are printed.

    python benchmarks/bench_prefix_cache.py --model ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf --runs 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ITEM = {"task": "pairwise", "prompt": "What is 2+2?", "response_a": "4", "response_b": "5"}


def judge(model: str, env: dict, extra: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "edgejudge", "judge", "-m", model, "--no-think", "--no-explain",
                           "--json", json.dumps(ITEM), *extra], capture_output=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stderr.decode()[-2000:])
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--home", default=None, help="store to use (default: a temporary one)")
    parser.add_argument("extra", nargs="*", help="more judge flags, after --")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="edgejudge-bench-")
    env = {**os.environ, "EDGEJUDGE_HOME": home, "EDGEJUDGE_TUNE": os.environ.get("EDGEJUDGE_TUNE", "0")}
    judge(args.model, env, args.extra)  # hashes the file once (cached by path, size, mtime) and warms the page cache
    cold, warm = [], []
    for _ in range(args.runs):
        subprocess.run([sys.executable, "-m", "edgejudge", "cache", "clear"], env=env, capture_output=True)
        seconds, record = judge(args.model, env, args.extra)
        assert record["timings"]["prefix_cache"] == "miss"
        cold.append((seconds, record))
        seconds, record = judge(args.model, env, args.extra)
        assert record["timings"]["prefix_cache"] == "hit"
        warm.append((seconds, record))
    for name, runs in (("cold", cold), ("warm", warm)):
        walls = [s for s, _ in runs]
        t = runs[0][1]["timings"]
        print(f"{name}: wall min/median/max {min(walls):.2f}/{statistics.median(walls):.2f}/{max(walls):.2f} s, "
              f"prompt {t['prompt_tokens']} tokens, {t['prefix_cache_tokens']} from the cache file, "
              f"prompt_s {statistics.median(r['timings']['prompt_s'] for _, r in runs):.2f}")
    ratio = statistics.median(s for s, _ in warm) / statistics.median(s for s, _ in cold)
    print(f"warm/cold (median wall): {ratio:.2f}x (target <= 0.35x); probabilities equal: "
          f"{cold[0][1]['probabilities'] == warm[0][1]['probabilities']}")


if __name__ == "__main__":
    main()
