"""Build the quantization ladder of a registered model from a local checkpoint folder.

Writes MODEL-BF16.gguf, then MODEL-Q8_0.gguf … MODEL-Q2_K.gguf with llama.cpp's quantizer, and a
manifest.json beside them (file, quant, size, sha256, source; and the time each step took).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgejudge.convert import LADDER, build_ladder  # noqa: E402
from edgejudge.errors import EdgejudgeError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="registered model id (see models.toml)")
    parser.add_argument("src", help="checkpoint folder")
    parser.add_argument("out_dir", help="folder for the GGUF files and manifest.json")
    parser.add_argument("--types", default=",".join(LADDER), help=f"comma-separated (default {','.join(LADDER)})")
    parser.add_argument("--outtype", choices=["bf16", "f16"], default="bf16", help="the unquantized base file")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    try:
        manifest = build_ladder(args.model, args.src, args.out_dir, types=args.types.split(","),
                                outtype=args.outtype, threads=args.threads,
                                log=lambda line: print(line, file=sys.stderr))
    except EdgejudgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for entry in manifest["files"]:
        print(f"{entry['quant']:>7}  {entry['size'] / 2**20:10.1f} MiB  {entry['sha256'][:16]}  {entry['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
