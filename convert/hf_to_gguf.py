"""Convert a Qwen2/Qwen3 Hugging Face checkpoint folder to GGUF (F16, BF16 or Q8_0)."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgejudge.convert import Provenance, convert, provenance_for  # noqa: E402
from edgejudge.errors import EdgejudgeError  # noqa: E402
from edgejudge.store import registry  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("src", help="checkpoint folder (config.json, *.safetensors, tokenizer files)")
    parser.add_argument("-o", "--output", required=True, help="GGUF file to write")
    parser.add_argument("--outtype", choices=["bf16", "f16", "q8_0"], default="bf16")
    parser.add_argument("--model", help="registered model id (models.toml) this checkpoint is")
    args = parser.parse_args()
    try:
        provenance = provenance_for(registry.load().get(args.model)) if args.model else Provenance()
        result = convert(args.src, args.output, outtype=args.outtype, provenance=provenance)
    except EdgejudgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {result.path} ({result.n_tensors} tensors, {result.size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
