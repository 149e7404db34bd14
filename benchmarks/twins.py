"""Full-size twins of the judges: the real architecture, widths and vocabulary, random weights.

Speed and memory depend on the shapes, the vocabulary and the quantization type, not on what the
weights learnt, so a twin measures what the real judge would cost without downloading it. Each
twin is made the way a user's judge is made: a Hugging Face checkpoint (bf16 safetensors, sharded,
with the real tokenizer from tests/realvocab.py), converted by edgejudge's converter to a BF16 GGUF,
then quantized by edgejudge's quantize (llama.cpp's quantizer) to Q4_K_M and Q4_0.

    python benchmarks/twins.py qwen3-4b                  # mR3 / RubricRM / refiner: Qwen3-4B
    python benchmarks/twins.py r1-distill-qwen-14b --quant Q4_K_M   # RM-R1's base, all 48 layers
    python benchmarks/twins.py r1-distill-qwen-14b --layers 8   # or cut to 8 of 48 layers
    python benchmarks/twins.py --list

Results are cached under --out (default ~/.cache/edgejudge-twins), one folder per twin (and per
layer count), with a manifest.json; a twin already built is not built again (--force rebuilds).
The checkpoint and the BF16 GGUF are deleted once the quantized files exist, unless --keep.
Disk at peak is about twice the bf16 size (checkpoint + BF16 GGUF): ~16 GB for Qwen3-4B, ~59 GB
for the 14B (measured on 2 cores: checkpoint 29 s, conversion 274 s, Q4_K_M 29 min, 8.4 GiB).
Prints the path of each quantized file on stdout, one per line; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import realvocab  # noqa: E402
import synthetic  # noqa: E402

DEFAULT_OUT = Path(os.environ.get("EDGEJUDGE_TWINS", Path.home() / ".cache" / "edgejudge-twins"))
QUANTS = ("Q4_K_M", "Q4_0")
SHARD_BYTES = 2 << 30  # like published checkpoints: several shards of a few GB
SEED = 0


@dataclass(frozen=True)
class Twin:
    """A judge's base model: what the config.json of the real checkpoint says."""

    name: str
    architecture: str  # qwen3 | qwen2
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab_size: int
    tied: bool
    context: int
    rope_theta: float
    rms_norm_eps: float
    family: str  # the edgejudge format the twin's GGUF is marked with
    judges: str
    score_head: bool = False  # a sequence classifier (a scalar reward model): one-output score head, no LM head


TWINS = {
    "qwen3-4b": Twin("qwen3-4b", "qwen3", hidden=2560, layers=36, heads=32, kv_heads=8, head_dim=128, ffn=9728,
                     vocab_size=151936, tied=True, context=40960, rope_theta=1e6, rms_norm_eps=1e-6,
                     family="mr3", judges="mR3, RubricRM, refiner (Qwen3-4B fine-tunes)"),
    "r1-distill-qwen-14b": Twin("r1-distill-qwen-14b", "qwen2", hidden=5120, layers=48, heads=40, kv_heads=8,
                                head_dim=128, ffn=13824, vocab_size=152064, tied=False, context=131072,
                                rope_theta=1e6, rms_norm_eps=1e-5, family="rmr1",
                                judges="RM-R1 (DeepSeek-R1-Distill-Qwen-14B fine-tune)"),
    # Qwen3-0.6B / Qwen3-1.7B config.json: 28 layers, 16 heads (8 KV) of 128, tied embeddings,
    # max_position_embeddings 40960, rope_theta 1e6, rms_norm_eps 1e-6. Marked as the guard family
    # (Qwen3Guard-Gen-0.6B is a Qwen3-0.6B fine-tune; the 1.7B shows the next size up).
    "qwen3-0.6b": Twin("qwen3-0.6b", "qwen3", hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128, ffn=3072,
                       vocab_size=151936, tied=True, context=40960, rope_theta=1e6, rms_norm_eps=1e-6,
                       family="guard", judges="Qwen3Guard-Gen-0.6B (Qwen3-0.6B fine-tune)"),
    "qwen3-1.7b": Twin("qwen3-1.7b", "qwen3", hidden=2048, layers=28, heads=16, kv_heads=8, head_dim=128, ffn=6144,
                       vocab_size=151936, tied=True, context=40960, rope_theta=1e6, rms_norm_eps=1e-6,
                       family="guard", judges="a Qwen3-1.7B first tier (the guard format on Qwen3-1.7B's shape)"),
    # Scalar reward models: Qwen3ForSequenceClassification, the base model's shapes and a score head.
    "skywork-reward-v2-qwen3-0.6b": Twin("skywork-reward-v2-qwen3-0.6b", "qwen3", hidden=1024, layers=28, heads=16,
                                         kv_heads=8, head_dim=128, ffn=3072, vocab_size=151936, tied=True,
                                         context=40960, rope_theta=1e6, rms_norm_eps=1e-6, family="reward",
                                         judges="Skywork-Reward-V2-Qwen3-0.6B (reward model)", score_head=True),
    "skywork-reward-v2-qwen3-1.7b": Twin("skywork-reward-v2-qwen3-1.7b", "qwen3", hidden=2048, layers=28, heads=16,
                                         kv_heads=8, head_dim=128, ffn=6144, vocab_size=151936, tied=True,
                                         context=40960, rope_theta=1e6, rms_norm_eps=1e-6, family="reward",
                                         judges="Skywork-Reward-V2-Qwen3-1.7B (reward model)", score_head=True),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def shapes(twin: Twin) -> dict[str, tuple[int, ...]]:
    spec = synthetic.Spec(architecture=twin.architecture, hidden=twin.hidden, layers=twin.layers, heads=twin.heads,
                          kv_heads=twin.kv_heads, head_dim=twin.head_dim, ffn=twin.ffn, vocab_size=twin.vocab_size,
                          tied=twin.tied, score_labels=1 if twin.score_head else 0)
    return synthetic.tensor_shapes(spec)


class NormalPool:
    """Normal(0, scale) values in bf16, drawn once and read from random offsets: the values of
    each tensor are normally distributed at the right scale (all that speed depends on) and a
    4B-parameter checkpoint is written at disk speed instead of the random generator's."""

    SIZE = 1 << 26

    def __init__(self, rng: np.random.Generator, scale: float):
        values = rng.standard_normal(self.SIZE, dtype=np.float32)
        values *= scale
        # Truncating to bf16 is as good as rounding for random values.
        self.bits = (values.view(np.uint32) >> 16).astype(np.uint16)
        self.rng = rng

    def take(self, count: int) -> np.ndarray:
        start = int(self.rng.integers(0, self.SIZE - count + 1))
        return self.bits[start:start + count]


def _write_shard(path: Path, tensors: dict[str, tuple[int, ...]], pool: NormalPool) -> None:
    header, offset = {}, 0
    for name, shape in tensors.items():
        size = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps({"__metadata__": {"format": "pt"}, **header}, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    one = np.array([0x3F80], dtype=np.uint16)  # 1.0 in bf16
    with open(path, "wb") as handle:
        handle.write(len(blob).to_bytes(8, "little") + blob)
        for name, shape in tensors.items():
            n = math.prod(shape)
            if name.endswith("norm.weight"):
                np.broadcast_to(one, (n,)).tofile(handle)
                continue
            if name.endswith(".bias"):
                np.zeros(n, dtype=np.uint16).tofile(handle)
                continue
            for start in range(0, n, 1 << 24):
                pool.take(min(1 << 24, n - start)).tofile(handle)


def write_checkpoint(twin: Twin, folder: Path) -> Path:
    """A Hugging Face checkpoint of ``twin``, written tensor by tensor (memory stays under 0.5 GB)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = realvocab.for_architecture(twin.architecture)
    assert len(vocab.tokens) == twin.vocab_size, (len(vocab.tokens), twin.vocab_size)
    realvocab.write_hf_tokenizer(vocab, folder)
    hf_arch = {"qwen3": "Qwen3ForCausalLM", "qwen2": "Qwen2ForCausalLM"}[twin.architecture]
    if twin.score_head:
        hf_arch = hf_arch.replace("ForCausalLM", "ForSequenceClassification")
    config = {
        "architectures": [hf_arch], "model_type": twin.architecture, "vocab_size": twin.vocab_size,
        "hidden_size": twin.hidden, "intermediate_size": twin.ffn, "num_hidden_layers": twin.layers,
        "num_attention_heads": twin.heads, "num_key_value_heads": twin.kv_heads,
        "max_position_embeddings": twin.context, "rope_theta": twin.rope_theta, "rms_norm_eps": twin.rms_norm_eps,
        "tie_word_embeddings": twin.tied, "torch_dtype": "bfloat16", "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos, "hidden_act": "silu", "initializer_range": 0.02, "use_cache": True,
    }
    if twin.architecture == "qwen3":
        config.update(head_dim=twin.head_dim, attention_bias=False)
    if twin.score_head:
        config.update(id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, pad_token_id=vocab.pad)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": vocab.bos, "eos_token_id": vocab.eos}))
    all_shapes = shapes(twin)
    groups: list[dict[str, tuple[int, ...]]] = [{}]
    size = 0
    for name, shape in all_shapes.items():
        nbytes = math.prod(shape) * 2
        if groups[-1] and size + nbytes > SHARD_BYTES:
            groups.append({})
            size = 0
        groups[-1][name] = shape
        size += nbytes
    pool = NormalPool(np.random.default_rng(SEED), 0.02)  # the initializer_range of these models' configs
    weight_map = {}
    for k, group in enumerate(groups, 1):
        filename = f"model-{k:05d}-of-{len(groups):05d}.safetensors"
        _write_shard(folder / filename, group, pool)
        weight_map.update(dict.fromkeys(group, filename))
        log(f"  wrote {filename} ({len(group)} tensors)")
    total = sum(math.prod(s) * 2 for s in all_shapes.values())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    return folder


def twin_dir(out: Path, twin: Twin) -> Path:
    return out / twin.name


def build(twin: Twin, out: Path, *, quants=QUANTS, keep: bool = False, force: bool = False,
          threads: int | None = None) -> dict:
    """Build (or find in the cache) the quantized GGUFs of ``twin``; returns its manifest."""
    from edgejudge.convert import Provenance, convert, quantize

    folder = twin_dir(out, twin)
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file() and not force:
        manifest = json.loads(manifest_path.read_text())
        if all((folder / manifest["files"].get(q, {}).get("file", "-")).is_file() for q in quants):
            log(f"{twin.name}: cached in {folder}")
            return manifest
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"twin": asdict(twin), "seed": SEED, "weights": "normal(0, 0.02) in bf16 (slices of one pool of 2^26 draws), norms 1, biases 0",
                "built": time.strftime("%Y-%m-%d"), "files": {}, "seconds": {}}
    ckpt = folder / "checkpoint"
    base = folder / f"{twin.name}-BF16.gguf"
    started = time.perf_counter()
    if not base.is_file():
        log(f"{twin.name}: writing the bf16 checkpoint to {ckpt}")
        write_checkpoint(twin, ckpt)
        manifest["seconds"]["checkpoint"] = round(time.perf_counter() - started, 1)
        log(f"{twin.name}: converting to {base.name}")
        t0 = time.perf_counter()
        vocab = realvocab.for_architecture(twin.architecture)
        result = convert(ckpt, base, outtype="bf16", provenance=Provenance(
            name=f"{twin.name} twin (random weights)", family=twin.family, pre_tokenizer=vocab.pre))
        manifest["seconds"]["convert_bf16"] = round(time.perf_counter() - t0, 1)
        log(f"{twin.name}: {result.n_tensors} tensors, {result.size / 2**30:.2f} GiB in {manifest['seconds']['convert_bf16']} s")
        if not keep:
            shutil.rmtree(ckpt)
    manifest["files"]["BF16"] = {"file": base.name, "size": base.stat().st_size}
    for qtype in quants:
        target = folder / f"{twin.name}-{qtype}.gguf"
        log(f"{twin.name}: quantizing to {qtype}")
        result = quantize(base, target, qtype, threads=threads)
        manifest["files"][qtype] = {"file": target.name, "size": result.size}
        manifest["seconds"][f"quantize_{qtype}"] = round(result.seconds, 1)
        log(f"{twin.name}: {target.name} {result.size / 2**30:.2f} GiB in {result.seconds:.0f} s")
    if not keep:
        base.unlink()
        manifest["files"]["BF16"]["deleted"] = True
    manifest["seconds"]["total"] = round(time.perf_counter() - started, 1)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("twins", nargs="*", metavar="TWIN", help=f"one of {', '.join(TWINS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"cache folder (default {DEFAULT_OUT})")
    parser.add_argument("--layers", type=int, default=None,
                        help="cut each twin to its first N layers (less disk and time; say so when you report)")
    parser.add_argument("--quant", action="append", default=None, help=f"quantization types (default {' '.join(QUANTS)})")
    parser.add_argument("--threads", type=int, default=None, help="quantizer threads (default: all usable)")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint and the BF16 GGUF")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--list", action="store_true", help="list the twins and what is cached")
    args = parser.parse_args(argv)
    if args.list or not args.twins:
        for name, twin in TWINS.items():
            cached = sorted(p.name for p in args.out.glob(f"{name}*/*.gguf")) if args.out.is_dir() else []
            print(f"{name}: {twin.architecture}, {twin.layers} layers, hidden {twin.hidden}, vocab {twin.vocab_size}; "
                  f"for {twin.judges}; cached: {', '.join(cached) or 'none'}")
        return 0
    unknown = [name for name in args.twins if name not in TWINS]
    if unknown:
        parser.error(f"unknown twin {unknown[0]!r}: choose from {', '.join(TWINS)}")
    for name in args.twins:
        twin = TWINS[name]
        if args.layers is not None:
            if not 1 <= args.layers <= twin.layers:
                parser.error(f"--layers must be between 1 and {twin.layers} for {name}")
            if args.layers < twin.layers:
                log(f"{name}: CUT to {args.layers} of {twin.layers} layers (not the full model)")
                twin = replace(twin, name=f"{name}-L{args.layers}", layers=args.layers)
        manifest = build(twin, args.out, quants=tuple(args.quant or QUANTS), keep=args.keep, force=args.force,
                         threads=args.threads)
        folder = twin_dir(args.out, twin)
        for qtype in args.quant or QUANTS:
            print(folder / manifest["files"][qtype]["file"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
