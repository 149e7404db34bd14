"""Tokens evaluated per second by edgejudge's stream against llama.cpp's own prompt rate, same file and settings.

Judges RM-Bench chat pairs (chosen as A, rejected as B) with `Judge.score_many`, no thinking and
no explanation, in input order (window 1: the items' own prefixes only), after one warm-up item.
"Evaluated" tokens are those not reused from the KV cache or the prefix cache; the rate is them
over the run's wall time (everything edgejudge does per item counts against it). Two references
from `bench_llama_raw.py`, with the settings the judge ran with (threads, repacking, flash
attention, n_batch/n_ubatch):

* llama.cpp doing the same work: each item's evaluated tokens, random, decoded at the same
  positions (behind as many cached tokens as the item reused: the prompt's head);
* llama.cpp's prompt rate from an empty cache (pp 512, llama-bench's figure).

The two differ because attention reads every cached position: behind a 400–1,500-token head,
each token costs more than the first 512 of an empty context do. Target: edgejudge >= 0.95x llama.cpp.

    python benchmarks/bench_score_rate.py --model ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf --pairs 8
"""

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--pp", type=int, default=512, help="prompt tokens of the raw llama.cpp reference")
    args = parser.parse_args()
    os.environ.setdefault("EDGEJUDGE_HOME", tempfile.mkdtemp(prefix="edgejudge-bench-"))
    from edgejudge import Judge

    pairs = rmbench.pairs(args.pairs + 1)
    items = [{"id": p["id"], "prompt": p["prompt"], "response_a": p["chosen"], "response_b": p["rejected"]}
             for p in pairs]
    with Judge.load(args.model, workload="no_think", min_ctx=4096) as judge:  # as `score --no-think` loads it
        info = judge.info
        list(judge.score_many(items[:1], think=False, explain=False, window=1))  # warm-up: tuning, prefix cache
        started = time.perf_counter()
        records = list(judge.score_many(items[1:], think=False, explain=False, window=1))
        wall = time.perf_counter() - started
    bad = [r for r in records if r["status"] != "ok"]
    if bad:
        sys.exit(f"{len(bad)} items failed: {bad[0]['error']}")
    evaluated = sum(r["timings"]["prompt_tokens"] - r["timings"]["reused_tokens"] for r in records)
    prompt_s = sum(r["timings"]["prompt_s"] for r in records)
    shapes = [[r["timings"]["reused_tokens"], r["timings"]["prompt_tokens"] - r["timings"]["reused_tokens"]]
              for r in records]
    config = {"model": str(judge.resolved.path), "repack": info.extra_bufts, "flash_attn": info.flash_attn,
              "n_batch": info.n_batch, "n_ubatch": info.n_ubatch, "threads": info.threads, "pp": args.pp, "tg": 0,
              "reps": 3, "seed": 0, "shapes": shapes}
    raw_script = Path(__file__).resolve().parent / "bench_llama_raw.py"
    child = subprocess.run([sys.executable, str(raw_script), "--child", json.dumps(config)], capture_output=True,
                           text=True, check=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    raw, same = max(result["pp_tps"]), max(result["shapes_tps"])
    ours = evaluated / wall
    print(f"settings: threads {info.threads}, repacking {'on' if info.extra_bufts else 'off'}, flash "
          f"{info.flash_attn}, batch {info.n_batch}/{info.n_ubatch}")
    print(f"edgejudge: {len(records)} items, {evaluated} tokens evaluated in {wall:.2f} s wall "
          f"({prompt_s:.2f} s in prompt evaluation): {ours:.1f} tok/s wall, {evaluated / prompt_s:.1f} tok/s prompt-only")
    print(f"llama.cpp, the same tokens at the same positions ({len(shapes)} evaluations behind "
          f"{min(d for d, _ in shapes)}-{max(d for d, _ in shapes)} cached tokens, best of 3): {same:.1f} tok/s")
    print(f"llama.cpp raw prompt rate (pp {args.pp} from an empty cache, best of 3): {raw:.1f} tok/s")
    print(f"edgejudge / llama.cpp on the same work: {ours / same:.2f}x wall (target >= 0.95x)")
    print(f"edgejudge / llama.cpp pp {args.pp}: {ours / raw:.2f}x wall")


if __name__ == "__main__":
    main()
