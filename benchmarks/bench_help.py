"""Median wall time of `edgejudge --help` (target: <= 0.25 s).

Runs the installed console script (falling back to `python -m edgejudge`) in fresh processes, so
Python start-up and every import the CLI makes are counted, as a user would feel them.
"""

import shutil
import statistics
import subprocess
import sys
import time

RUNS = 21


def main() -> None:
    script = shutil.which("edgejudge")
    command = [script, "--help"] if script else [sys.executable, "-m", "edgejudge", "--help"]
    subprocess.run(command, capture_output=True, check=True)  # warm the page cache
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"edgejudge --help: median {median * 1000:.0f} ms over {RUNS} runs "
          f"(min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms); target <= 250 ms: "
          f"{'met' if median <= 0.25 else 'NOT met'}")


if __name__ == "__main__":
    main()
