"""Verdict validity and position consistency on RM-Bench chat pairs, with SmolLM2 (generic format).

Every pair is judged with --swap (both orders, sharing the prompt prefix in the KV cache):
  - valid: the fraction of verdicts that are one of the allowed labels (target 100%);
  - position consistency: the fraction of pairs whose two orders pick the same response;
  - accuracy of the combined (swap-averaged) verdict, for information (SmolLM2-135M is a demo model).
The time of a --no-explain verdict against a plain prompt evaluation is bench_verdict.py.

    python benchmarks/bench_formats.py [--pairs 200] [--explain]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rmbench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--explain", action="store_true", help="with explanations (slower)")
    parser.add_argument("-m", "--model", default="smollm2-135m")
    args = parser.parse_args()
    from edgejudge import Judge

    pairs = rmbench.pairs(args.pairs)
    valid = consistent = correct = 0
    started = time.perf_counter()
    with Judge.load(args.model) as judge:
        for pair in pairs:
            result = judge.pairwise(pair["prompt"], pair["chosen"], pair["rejected"], swap=True, explain=args.explain)
            orders = result.swap["orders"]
            valid += sum(order["verdict"] in ("A", "B") for order in orders) + (result.verdict in ("A", "B"))
            consistent += result.swap["agree"]
            correct += result.verdict == "A"
    elapsed = time.perf_counter() - started
    n = len(pairs)
    print(f"{args.model}, {n} RM-Bench chat pairs, both orders, explain={args.explain}: {elapsed:.0f} s "
          f"({2 * n / elapsed:.2f} verdicts/s)")
    print(f"valid verdicts: {valid}/{3 * n} = {valid / (3 * n):.1%} (target 100%)")
    print(f"position consistency with --swap: {consistent}/{n} = {consistent / n:.1%}")
    print(f"accuracy of the swap-combined verdict: {correct}/{n} = {correct / n:.1%}")


if __name__ == "__main__":
    main()
