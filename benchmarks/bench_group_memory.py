"""Peak memory of ``score`` on big lines: how much the grouping window holds.

``score`` reads a file in windows (``--group-window``, 1,024 lines by default) and evaluates the
items that share a prompt together; a window's lines stay in memory until its records are written.
This writes LINES lines of about MB megabytes each (a different long prompt per line), runs
``edgejudge score`` on them with each ``--group-window`` given, and prints the child's peak
resident memory (``ru_maxrss`` from ``wait4``) and its wall time. By default each line lacks
``response_b``, so it becomes a ``missing_field`` record at once: the window holds the lines all
the same, and the run takes seconds. With ``--tokenize`` the lines are whole items, too long for
SmolLM2's context, each tokenized before it becomes a ``context_overflow`` record (about 2 s a
line on a loaded 2-core machine).

    python benchmarks/bench_group_memory.py                      # 300 lines of 1 MB, windows 1 and 1024
    python benchmarks/bench_group_memory.py --lines 100 --windows 1 8 1024
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_input(path: Path, lines: int, megabytes: float, whole: bool) -> None:
    size = int(megabytes * 1_000_000)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit " * (size // 56 + 1)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(lines):
            prompt = f"{i} " + words[: size - 80]
            tail = ', "response_b": "b"' if whole else ""
            out.write(f'{{"id": {i}, "prompt": "{prompt}", "response_a": "a"{tail}}}\n')


def peak(args: list[str]) -> tuple[float, float, int]:
    """Peak RSS in MiB, wall seconds and exit code of ``python -m edgejudge ARGS``."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "edgejudge", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, child.returncode  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--mb", type=float, default=1.0, help="size of each line in MB")
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 1024])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokenize", action="store_true", help="whole items, tokenized (slow)")
    args = parser.parse_args()
    with open("/proc/loadavg") as load:
        print(f"load average before: {load.read().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        write_input(source, args.lines, args.mb, args.tokenize)
        print(f"{args.lines} lines of {args.mb:g} MB ({source.stat().st_size / 2**20:,.0f} MiB), model {args.model}")
        for window in args.windows:
            rss, seconds, rc = peak(["score", str(source), "-o", str(Path(tmp) / "out.jsonl"), "-m", args.model,
                                     "--no-explain", "--threads", "1", "-q", "--group-window", str(window)])
            print(f"--group-window {window:>5}: peak RSS {rss:7.0f} MiB, {seconds:6.1f} s (exit {rc})")
    with open("/proc/loadavg") as load:
        print(f"load average after: {load.read().split()[:3]}")


if __name__ == "__main__":
    main()
