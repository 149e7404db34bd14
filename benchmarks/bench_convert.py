"""Conversion and quantization on a synthetic checkpoint with Qwen3-0.6B's real dimensions.

Side by side in one run: edgejudge's converter against llama.cpp's convert_hf_to_gguf.py (from
the llama-cpp-python 0.3.36 sdist), both to BF16, as child processes with their wall time and
peak memory; targets: edgejudge <= 0.5x the reference in both, with the same tensors and metadata.
Then the time llama.cpp's quantizer takes for each type of the ladder.

    python benchmarks/bench_convert.py --reference-python /path/to/venv-with-torch/bin/python
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "convert"))
sys.path.insert(0, str(ROOT))

import compare_reference  # noqa: E402

from edgejudge.convert import LADDER, quantize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-python", default=sys.executable, help="a Python with torch and transformers")
    parser.add_argument("--llama-cpp", type=Path, default=None, help="llama.cpp sources (default: the sdist's)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgejudge-bench-convert-"))
    started = time.perf_counter()
    ckpt = work / "qwen3-0.6b-synthetic"
    # Made in a child process: a child forked from a parent that had held the weights would start
    # with the parent's resident pages, and the peak-memory figures would include them.
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); "
                    f"from synthetic import QWEN3_06B, make_checkpoint; "
                    f"from pathlib import Path; make_checkpoint(Path({str(ckpt)!r}), QWEN3_06B)"], check=True)
    size = sum(p.stat().st_size for p in ckpt.glob("*.safetensors"))
    print(f"synthetic Qwen3-0.6B checkpoint: {size / 2**30:.2f} GiB bf16 in 2 shards "
          f"(made in {time.perf_counter() - started:.0f} s)")
    llama_dir = args.llama_cpp or compare_reference.llama_cpp_dir(Path(tempfile.gettempdir()) / "edgejudge-llama-cpp-sdist")
    run = compare_reference.convert_both(ckpt, work, outtype="bf16", pre="qwen2",
                                         reference_python=args.reference_python, llama_dir=llama_dir)
    problems = compare_reference.compare(run["ours"], run["reference"])
    time_ratio, mem_ratio = run["ours_s"] / run["reference_s"], run["ours_rss"] / run["reference_rss"]
    print(f"{'converter':<34}{'wall':>10}{'peak RSS':>14}")
    print(f"{'edgejudge (gguf + numpy)':<34}{run['ours_s']:>9.1f}s{run['ours_rss'] / 2**20:>10,.0f} MiB")
    print(f"{'llama.cpp convert_hf_to_gguf.py':<34}{run['reference_s']:>9.1f}s{run['reference_rss'] / 2**20:>10,.0f} MiB")
    print(f"ratio: time {time_ratio:.2f}x, memory {mem_ratio:.2f}x (targets <= 0.5x: "
          f"{'met' if time_ratio <= 0.5 and mem_ratio <= 0.5 else 'NOT met'})")
    print("same tensors and metadata" if not problems else f"DIFFERENCES: {problems[:5]}")
    print(f"{'quant':<8}{'seconds':>9}{'MiB':>9}")
    for qtype in LADDER:
        result = quantize(run["ours"], work / f"q-{qtype}.gguf", qtype)
        print(f"{qtype:<8}{result.seconds:>9.1f}{result.size / 2**20:>9.0f}")
        result.path.unlink()


if __name__ == "__main__":
    main()
