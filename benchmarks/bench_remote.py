"""The remote backend against a loopback server, next to the local backend (no-explain verdicts).

Starts an OpenAI-compatible server with the SmolLM2 GGUF on loopback: llama-cpp-python's
(tests/serve_llama_cpp.py), or llama.cpp's llama-server with --llama-server PATH (4 slots). Then
judges RM-Bench chat pairs through it with --concurrency 1 and 4, and locally with the same threads.

    python benchmarks/bench_remote.py --pairs 200
    python benchmarks/bench_remote.py --pairs 200 --llama-server /path/to/llama-server
"""

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import rmbench  # noqa: E402
import servers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--llama-server", metavar="PATH", help="llama.cpp's llama-server binary")
    args = parser.parse_args()
    from edgejudge import Judge
    from edgejudge.backends.llama.hardware import usable_threads
    from edgejudge.backends.remote import RemoteSettings
    from edgejudge.store import resolve

    threads = usable_threads()  # the servers get the threads the local backend uses
    model = resolve.resolve("smollm2-135m").path
    log = Path(tempfile.gettempdir()) / "edgejudge-bench-server.log"
    if args.llama_server:
        name = "llama-server (4 slots)"
        start = partial(servers.start_llama_server, args.llama_server, model, log, slots=4, threads=threads,
                        n_ctx=16384)
    else:
        name = "llama-cpp-python's server"
        start = partial(servers.start_llama_cpp_python, model, log, threads=threads)
    records = [{"prompt": p["prompt"], "response_a": p["chosen"], "response_b": p["rejected"]}
               for p in rmbench.pairs(args.pairs)]
    n = len(records)
    print(f"{n} RM-Bench chat pairs, SmolLM2-135M, --no-explain; server: {name} on loopback, {threads} threads")
    for concurrency in (1, 4):
        # a fresh server each time: its prompt cache would otherwise answer the second run
        server, url = start()
        try:
            remote = Judge.remote("smollm2-135m", RemoteSettings(base_url=url))
            started = time.perf_counter()
            out = list(remote.score_many(records, explain=False, concurrency=concurrency))
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait()
        ok = sum(r["status"] == "ok" for r in out)
        print(f"  remote, --concurrency {concurrency}: {elapsed:7.1f} s  {n / elapsed:5.2f} judgments/s  ({ok}/{n} ok)")
    with Judge.load("smollm2-135m", min_ctx=4096) as local:
        started = time.perf_counter()
        list(local.score_many(records, explain=False))
        elapsed = time.perf_counter() - started
        print(f"  local backend:          {elapsed:7.1f} s  {n / elapsed:5.2f} judgments/s")


if __name__ == "__main__":
    main()
