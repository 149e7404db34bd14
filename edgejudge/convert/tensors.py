"""Tensors: which ones a Qwen2/Qwen3 checkpoint must hold, their GGUF names and types, and their
conversion in bounded chunks.

Types follow llama.cpp's ``convert_hf_to_gguf.py`` exactly: 1-D tensors and norms stay F32,
everything else takes the output type; a tensor whose rows do not fit Q8_0 blocks falls back to
F16. The numbers are computed with the ``gguf`` package's own routines (``gguf.quants``) on the
same float32 input, so the bytes match the reference converter's. Chunks of whole rows keep peak
memory near one chunk, whatever the tensor's size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np

from edgejudge.convert.checkpoint import Checkpoint, TensorSource
from edgejudge.errors import ConversionError

OUTTYPES = ("f16", "bf16", "q8_0", "f32")  # f32: exact, for checking numerics against a reference
CHUNK_ELEMENTS = 1 << 22  # 4M values: 16 MB of float32 per chunk


def expected_shapes(ckpt: Checkpoint) -> dict[str, tuple[int, ...]]:
    """Every tensor the config implies, with its Hugging Face (row-major) shape."""
    hp = ckpt.hparams
    q, kv = hp.num_heads * hp.head_dim, hp.num_kv_heads * hp.head_dim
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (hp.vocab_size, hp.hidden_size),
        "model.norm.weight": (hp.hidden_size,),
    }
    if not hp.tie_word_embeddings:
        shapes["lm_head.weight"] = (hp.vocab_size, hp.hidden_size)
    for i in range(hp.num_layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (hp.hidden_size,),
            p + "post_attention_layernorm.weight": (hp.hidden_size,),
            p + "self_attn.q_proj.weight": (q, hp.hidden_size),
            p + "self_attn.k_proj.weight": (kv, hp.hidden_size),
            p + "self_attn.v_proj.weight": (kv, hp.hidden_size),
            p + "self_attn.o_proj.weight": (hp.hidden_size, q),
            p + "mlp.gate_proj.weight": (hp.intermediate_size, hp.hidden_size),
            p + "mlp.up_proj.weight": (hp.intermediate_size, hp.hidden_size),
            p + "mlp.down_proj.weight": (hp.hidden_size, hp.intermediate_size),
        })
        if ckpt.architecture == "qwen2" or ckpt.config.get("attention_bias"):
            shapes.update({
                p + "self_attn.q_proj.bias": (q,),
                p + "self_attn.k_proj.bias": (kv,),
                p + "self_attn.v_proj.bias": (kv,),
            })
        if ckpt.architecture == "qwen3":
            shapes.update({
                p + "self_attn.q_norm.weight": (hp.head_dim,),
                p + "self_attn.k_norm.weight": (hp.head_dim,),
            })
    return shapes


def check_tensors(ckpt: Checkpoint) -> None:
    """Every expected tensor is present with the shape the config implies, and nothing else."""
    # The layer count first, from the shards' names: a config claiming more layers than the shards
    # hold is named as such (and no table of shapes is built for a billion layers).
    present = {int(n.split(".")[2]) for n in ckpt.tensors
               if n.startswith("model.layers.") and n.split(".")[2].isdecimal()}
    if len(present) != ckpt.hparams.num_layers:
        raise ConversionError(
            f"{ckpt.path / 'config.json'}: num_hidden_layers = {ckpt.hparams.num_layers} but the shards hold "
            f"{len(present)} layers",
            hint="config.json and the weights disagree, or a shard is missing: re-download the checkpoint")
    expected = expected_shapes(ckpt)
    if ckpt.hparams.tie_word_embeddings and "lm_head.weight" in ckpt.tensors:
        expected["lm_head.weight"] = (ckpt.hparams.vocab_size, ckpt.hparams.hidden_size)
    missing = sorted(set(expected) - set(ckpt.tensors))
    if missing:
        raise ConversionError(
            f"{ckpt.path}: {len(missing)} tensor(s) the config implies are missing, e.g. {missing[0]}",
            hint="the shards do not match config.json, or a shard is missing",
        )
    unexpected = sorted(set(ckpt.tensors) - set(expected))
    if unexpected:
        raise ConversionError(f"{ckpt.path}: unexpected tensor {unexpected[0]} (and {len(unexpected) - 1} more)",
                              hint="this checkpoint does not look like a plain Qwen2/Qwen3 causal LM")
    for name, shape in expected.items():
        source = ckpt.tensors[name]
        if source.shape != shape:
            raise ConversionError(
                f"{source.file}: tensor {name} has shape {list(source.shape)} but config.json implies {list(shape)}",
                hint="config.json and the weights disagree: re-download the checkpoint",
            )


@functools.lru_cache(maxsize=8)
def _name_map(architecture: str, n_layers: int):
    import gguf

    arch = {"qwen3": gguf.MODEL_ARCH.QWEN3, "qwen2": gguf.MODEL_ARCH.QWEN2}[architecture]
    return gguf.get_tensor_name_map(arch, n_layers)  # slow to build (~20 ms): built once


def gguf_name(ckpt: Checkpoint, hf_name: str) -> str:
    name = _name_map(ckpt.architecture, ckpt.hparams.num_layers).get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ConversionError(f"{ckpt.path}: cannot map tensor {hf_name} to a GGUF name")
    return name


def target_type(name: str, shape: tuple[int, ...], outtype: str):
    """The GGML type the reference converter gives this tensor."""
    from gguf import GGMLQuantizationType as T

    if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return T.F32
    wanted = {"f16": T.F16, "bf16": T.BF16, "q8_0": T.Q8_0, "f32": T.F32}[outtype]
    if wanted == T.Q8_0 and shape[-1] % 32:
        return T.F16  # the reference falls back to F16 when rows do not fit Q8_0 blocks
    return wanted


def nbytes(shape: tuple[int, ...], qtype) -> int:
    from gguf.constants import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[qtype]
    return math.prod(shape) // block * size


def converted_chunks(source: TensorSource, qtype) -> Iterator[np.ndarray]:
    """The tensor's bytes in ``qtype``, a bounded number of whole rows at a time.

    The shard is read with ``readinto`` into one reused buffer rather than memory-mapped, so the
    process's resident memory stays at about one chunk instead of growing with the mapped pages.
    """
    import gguf
    from gguf import GGMLQuantizationType as T

    row = source.shape[-1] if source.shape else 1
    n_rows = math.prod(source.shape[:-1]) if len(source.shape) > 1 else 1
    itemsize = 2 if source.dtype in ("BF16", "F16") else 4
    rows_per_chunk = max(1, CHUNK_ELEMENTS // max(row, 1))
    buffer = np.empty(min(n_rows, rows_per_chunk) * row * itemsize, dtype=np.uint8)
    with open(source.file, "rb", buffering=0) as handle:
        handle.seek(source.offset)
        for start in range(0, n_rows, rows_per_chunk):
            stop = min(n_rows, start + rows_per_chunk)
            chunk = buffer[: (stop - start) * row * itemsize]
            if handle.readinto(memoryview(chunk)) != chunk.nbytes:  # type: ignore[arg-type]  # numpy arrays are buffers
                raise ConversionError(f"{source.file}: tensor {source.name} ends early (the shard is truncated)",
                                      hint="download the shard again")
            if source.dtype == "BF16" and qtype == T.BF16:
                yield _bf16_passthrough(chunk)
                continue
            values = _as_float(chunk, source.dtype).reshape(stop - start, row)
            out = gguf.quants.quantize(values, qtype)
            yield np.ascontiguousarray(out).view(np.uint8).reshape(-1)


def _as_float(chunk: np.ndarray, dtype: str) -> np.ndarray:
    # As the reference: F16 and F32 stay as they are, anything else goes through float32.
    if dtype == "F16":
        return chunk.view(np.float16)
    if dtype == "F32":
        return chunk.view(np.float32)
    return (chunk.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def _bf16_passthrough(chunk: np.ndarray) -> np.ndarray:
    """BF16 to BF16 without the float32 round trip: the same bits, NaNs quieted as the reference
    quieting does (bf16 → f32 is exact, and f32 → bf16 rounding of an exact value is the identity)."""
    halves = chunk.view(np.uint16)
    # Cheap test first: a NaN needs an all-ones exponent, rare in weights.
    if (halves & 0x7F80).max(initial=0) == 0x7F80:
        nan = (halves & 0x7FFF) > 0x7F80
        if nan.any():
            return np.where(nan, halves | 0x0040, halves).astype(np.uint16).view(np.uint8)
    return chunk
