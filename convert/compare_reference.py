"""Convert one checkpoint with edgejudge and with llama.cpp's convert_hf_to_gguf.py, and compare.

The two GGUFs must carry the same tensors (names, shapes, types, bytes) and the same tokenizer,
chat-template and architecture metadata; ``general.*`` naming heuristics and edgejudge's own
``edgejudge.*`` keys are not compared. Both converters run as child processes, timed, with their
peak memory (max RSS) measured, and the figures are printed side by side.

llama.cpp's converter needs torch and transformers; run it with a Python that has them
(``--reference-python``). It names the BPE pre-tokenizer by hashing the tokenization of a test
string, which only matches real model vocabularies; for synthetic checkpoints the wrapper below
makes it use the name edgejudge uses (from models.toml), the one thing it does not compute itself.

    python convert/compare_reference.py CHECKPOINT --reference-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"

# Each converter reports its own memory high-water mark (VmHWM is reset by exec; ru_maxrss from
# wait4 would also count the pages a child shares with its parent between fork and exec).
HWM = "import atexit; atexit.register(lambda: open({status!r}, 'w').write(open('/proc/self/status').read()))\n"

WRAPPER = """
import sys
sys.path.insert(0, {llama_dir!r})
sys.path.insert(1, {llama_dir!r} + "/gguf-py")
sys.argv = ["convert_hf_to_gguf.py", *{argv!r}]
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: {pre!r}
import convert_hf_to_gguf
convert_hf_to_gguf.main()
"""


def llama_cpp_dir(cache: Path) -> Path:
    """vendor/llama.cpp from the llama-cpp-python source distribution (downloaded once)."""
    target = cache / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    LLAMA_CPP_PYTHON, "-d", str(cache)], check=True, stdout=subprocess.DEVNULL)
    with tarfile.open(next(cache.glob("llama_cpp_python-0.3.36.tar.gz"))) as archive:
        members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name and
                   ("/conversion/" in m.name or "/gguf-py/" in m.name or m.name.endswith("convert_hf_to_gguf.py"))]
        archive.extractall(cache, members=members, filter="data")
    return target


def run_measured(python: str, code: str, status: Path) -> tuple[float, int]:
    """Run ``code`` with ``python``; return (wall seconds, peak resident memory in bytes)."""
    started = time.perf_counter()
    proc = subprocess.run([python, "-c", HWM.format(status=str(status)) + code],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-3000:]}")
    peak_kib = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM"))
    return elapsed, peak_kib * 1024


def convert_both(src: Path, outdir: Path, *, outtype: str, pre: str, reference_python: str,
                 llama_dir: Path, model: str | None = None) -> dict:
    ours, reference = outdir / f"edgejudge-{outtype}.gguf", outdir / f"llama-cpp-{outtype}.gguf"
    argv = [str(src), "-o", str(ours), "--outtype", outtype] + (["--model", model] if model else [])
    script = ROOT / "convert" / "hf_to_gguf.py"
    ours_code = f"import runpy, sys\nsys.argv = {[str(script), *argv]!r}\nrunpy.run_path({str(script)!r}, run_name='__main__')\n"
    ours_time, ours_rss = run_measured(sys.executable, ours_code, outdir / "ours.status")
    wrapper = WRAPPER.format(llama_dir=str(llama_dir), pre=pre,
                             argv=[str(src), "--outfile", str(reference), "--outtype", outtype])
    ref_time, ref_rss = run_measured(reference_python, wrapper, outdir / "reference.status")
    return {"ours": ours, "reference": reference, "ours_s": ours_time, "ours_rss": ours_rss,
            "reference_s": ref_time, "reference_rss": ref_rss}


def _field(reader, key):
    field = reader.get_field(key)
    return None if field is None else field.contents()


def compare(ours: Path, reference: Path) -> list[str]:
    """Differences between the two files that matter (empty when they match)."""
    from gguf import GGUFReader

    a, b = GGUFReader(ours), GGUFReader(reference)
    problems = []
    arch = _field(a, "general.architecture")
    if arch != _field(b, "general.architecture"):
        return [f"architecture {arch} vs {_field(b, 'general.architecture')}"]
    compared = ("tokenizer.", f"{arch}.", "general.file_type", "general.quantization_version", "general.alignment")
    keys = {k for k in list(a.fields) + list(b.fields) if k.startswith(compared)}
    for key in sorted(keys):
        va, vb = _field(a, key), _field(b, key)
        if va != vb:
            shown = (repr(va)[:80], repr(vb)[:80])
            problems.append(f"metadata {key}: edgejudge {shown[0]} vs llama.cpp {shown[1]}")
    ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
    for name in sorted(set(ta) ^ set(tb)):
        problems.append(f"tensor {name} only in {'edgejudge' if name in ta else 'llama.cpp'}")
    for name in sorted(set(ta) & set(tb)):
        x, y = ta[name], tb[name]
        if list(x.shape) != list(y.shape) or x.tensor_type != y.tensor_type:
            problems.append(f"tensor {name}: {x.tensor_type.name}{list(x.shape)} vs {y.tensor_type.name}{list(y.shape)}")
        elif hashlib.sha256(x.data.tobytes()).digest() != hashlib.sha256(y.data.tobytes()).digest():
            problems.append(f"tensor {name}: bytes differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="checkpoint folder")
    parser.add_argument("--outtype", default="bf16", help="bf16, f16 or q8_0, or several comma-separated")
    parser.add_argument("--pre", default="qwen2", help="pre-tokenizer name (as in models.toml)")
    parser.add_argument("--model", default=None, help="registered model id, passed to edgejudge's converter")
    parser.add_argument("--reference-python", default=sys.executable, help="a Python with torch and transformers")
    parser.add_argument("--llama-cpp", type=Path, default=None, help="a llama.cpp checkout (default: the sdist's)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the GGUFs (default: a temp dir)")
    args = parser.parse_args()
    llama_dir = args.llama_cpp or llama_cpp_dir(Path(tempfile.gettempdir()) / "edgejudge-llama-cpp-sdist")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="edgejudge-compare-"))
    failed = False
    for outtype in args.outtype.split(","):
        run = convert_both(args.src, workdir, outtype=outtype, pre=args.pre, model=args.model,
                           reference_python=args.reference_python, llama_dir=llama_dir)
        problems = compare(run["ours"], run["reference"])
        print(f"[{outtype}] edgejudge: {run['ours_s']:.1f} s, peak {run['ours_rss'] / 2**20:,.0f} MiB | "
              f"llama.cpp convert_hf_to_gguf.py: {run['reference_s']:.1f} s, peak {run['reference_rss'] / 2**20:,.0f} MiB"
              f" | time {run['ours_s'] / run['reference_s']:.2f}x, memory {run['ours_rss'] / run['reference_rss']:.2f}x")
        if problems:
            failed = True
            print(f"[{outtype}] {len(problems)} difference(s):")
            for line in problems[:40]:
                print("  " + line)
        else:
            print(f"[{outtype}] same tensors (names, shapes, types, bytes) and tokenizer/architecture metadata")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
