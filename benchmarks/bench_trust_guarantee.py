"""The `--target-error` guarantee by simulation: how often the true error on answered items exceeds
alpha when edgejudge picks the threshold, by scenario, alpha, delta and calibration-set size.

The scenarios are tests/trust_simulation.py's (independent items; each pair in both orders, its
verdicts right or wrong together always or 70% of the time; clusters of 4 records, say two rubric
variants in both orders; a 2-stage cascade whose second stage is overconfident on the items the
first finds hard). Each row draws ``--draws`` calibration sets of n records, runs edgejudge's own
selection (abstain.target_threshold / abstain.cascade_thresholds) and measures the chosen
thresholds' true error and coverage on a population of 200,000 records from the same scenario.
"as independent" repeats it the way edgejudge did before: every record its own item, every stage
calibrated on the whole set at level delta.

    nice -n 5 python benchmarks/bench_trust_guarantee.py [--draws 1500] [--quick]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from trust_simulation import Scenario, violation_rate  # noqa: E402

SCENARIOS = [Scenario("independent"), Scenario("pairs", agree=1.0), Scenario("pairs", agree=0.7),
             Scenario("pairs", agree=1.0, size=4), Scenario("cascade")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1500)
    parser.add_argument("--quick", action="store_true", help="n = 200 and delta = 0.1 only")
    args = parser.parse_args()
    sizes = [200] if args.quick else [50, 200, 1000]
    deltas = [0.1] if args.quick else [0.1, 0.05]
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]} ({os.cpu_count()} CPUs)", file=sys.stderr)
    started = time.time()
    print(f"{args.draws} draws per row; population 200,000 records per scenario\n")
    print("| scenario | α | δ | n | violation rate | coverage | as independent: violation | coverage |")
    print("|---|---|---|---|---|---|---|---|")
    for index, scenario in enumerate(SCENARIOS):
        for alpha in (0.1, 0.2):
            for delta in deltas:
                for n in sizes:
                    seed = 100_000 * index + 1000 * n + round(100 * alpha) + round(1000 * delta)  # fixed: rerunnable
                    rate, coverage = violation_rate(scenario, n=n, alpha=alpha, delta=delta, draws=args.draws, seed=seed)
                    if delta == 0.1:
                        naive_rate, naive_coverage = violation_rate(scenario, n=n, alpha=alpha, delta=delta,
                                                                    draws=args.draws, seed=seed, naive=True)
                        naive = f"{naive_rate:.3f} | {naive_coverage:.3f}"
                    else:
                        naive = "– | –"
                    print(f"| {scenario.label()} | {alpha:g} | {delta:g} | {n} | {rate:.3f} | {coverage:.3f} | {naive} |",
                          flush=True)
    print(f"\n{time.time() - started:.0f} s; load average after: {open('/proc/loadavg').read().split()[:3]}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
