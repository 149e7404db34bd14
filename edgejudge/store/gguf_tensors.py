"""The tensors each architecture edgejudge checks implies, with their shapes, as llama.cpp's loader
(``load_arch_tensors`` in llama-model.cpp of the pinned build) asks for them, and the checks of a
file's tensors against them."""

from __future__ import annotations

F32 = 0
# GGML types that cannot be the weight of a matrix multiplication on the CPU (no vec_dot): the
# activation-side Q8_1/Q8_K, the integer types and F64. A weight of one of these aborts at decode.
NOT_MATMUL_TYPES = {9: "Q8_1", 15: "Q8_K", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64"}

# Architectures whose tensor lists and shapes are checked in full; others get the general rules.
KNOWN = ("llama", "qwen2", "qwen3", "gemma3")


class SemanticError(Exception):
    """One violated rule; ``gguf_file`` adds the file's name."""


def expected_tensors(arch: str, hp: dict, n_vocab: int) -> dict[str, tuple[tuple[int, ...] | None, bool]]:
    """name → (shape in GGUF order, required), as the architecture's ``load_arch_tensors``."""
    n_embd, n_ff = hp["n_embd"], hp["n_ff"]
    q = hp["head_k"] * hp["n_head"]
    k = hp["head_k"] * hp["n_head_kv"]
    v = hp["head_v"] * hp["n_head_kv"]
    if arch == "qwen2":
        q = n_embd  # qwen2's loader sizes Q and the output projection by n_embd
        k = v = hp["head_v"] * hp["n_head_kv"]
    out: dict[str, tuple[tuple[int, ...] | None, bool]] = {
        "token_embd.weight": ((n_embd, n_vocab), True),
        "output_norm.weight": ((n_embd,), True),
        "output.weight": ((n_embd, n_vocab), False),
    }
    if arch == "qwen2":
        out["output.bias"] = ((n_vocab,), False)
    if arch == "llama":
        for name in ("rope_freqs", "rope_factors_long", "rope_factors_short"):
            out[f"{name}.weight"] = ((hp["head_k"] // 2,), False)
    # Optional heads whose width comes from keys edgejudge does not use: the shape is not checked.
    if arch == "qwen3":
        out["cls.output.weight"] = (None, False)
    if arch == "gemma3":
        out["dense_2.weight"] = (None, False)
        out["dense_3.weight"] = (None, False)
    for i in range(hp["n_layer"]):
        p = f"blk.{i}."
        out.update({
            p + "attn_norm.weight": ((n_embd,), True),
            p + "attn_q.weight": ((n_embd, q), True),
            p + "attn_k.weight": ((n_embd, k), True),
            p + "attn_v.weight": ((n_embd, v), True),
            p + "attn_q.bias": ((q,), False),
            p + "attn_k.bias": ((k,), False),
            p + "attn_v.bias": ((v,), False),
            p + "attn_output.weight": ((q, n_embd), True),
            p + "ffn_norm.weight": ((n_embd,), True),
            p + "ffn_gate.weight": ((n_embd, n_ff), True),
            p + "ffn_up.weight": ((n_embd, n_ff), True),
            p + "ffn_down.weight": ((n_ff, n_embd), True),
        })
        if arch == "llama":
            out[p + "attn_output.bias"] = ((n_embd,), False)
            out[p + "ffn_gate.bias"] = ((n_ff,), False)
            out[p + "ffn_up.bias"] = ((n_ff,), False)
            out[p + "ffn_down.bias"] = ((n_embd,), False)
        if arch in ("qwen3", "gemma3"):
            out[p + "attn_q_norm.weight"] = ((hp["head_k"],), True)
            out[p + "attn_k_norm.weight"] = ((hp["head_k"],), True)
        if arch == "gemma3":
            out[p + "post_attention_norm.weight"] = ((n_embd,), True)
            out[p + "post_ffw_norm.weight"] = ((n_embd,), True)
    return out


def check_types(tensors) -> None:
    """Each tensor's type can take part in the operations llama.cpp puts it in."""
    for t in tensors:
        if len(t.dims) == 1 or t.name.endswith("norm.weight"):
            # Norm weights, biases and rope factors enter element-wise operations that ggml
            # computes in F32 only: another type aborts at the first decode.
            if t.ggml_type != F32:
                raise SemanticError(f"tensor {t.name!r} has type {_type_name(t.ggml_type)}; "
                                    "llama.cpp computes it in F32 only (1-D tensors and norms must be F32)")
        elif t.ggml_type in NOT_MATMUL_TYPES:
            raise SemanticError(f"tensor {t.name!r} has type {NOT_MATMUL_TYPES[t.ggml_type]}, "
                                "which cannot be a weight matrix")


def check_generic(arch: str, tensors: dict, hp: dict, n_vocab: int) -> None:
    """The rules for any architecture: the embedding and output matrices fit the vocabulary and width."""
    n_embd = hp["n_embd"]
    for name in ("token_embd.weight", "output.weight"):
        t = tensors.get(name)
        if t is not None and len(t.dims) == 2 and t.dims[1] != n_vocab:
            raise SemanticError(f"tensor {name!r} has {t.dims[1]} rows but the vocabulary holds {n_vocab} tokens")
        if t is not None and len(t.dims) == 2 and t.dims[0] != n_embd:
            raise SemanticError(f"tensor {name!r} is {t.dims[0]} wide but {arch}.embedding_length = {n_embd}")
    if "token_embd.weight" not in tensors:
        raise SemanticError("tensor 'token_embd.weight' is missing")


def check_known(arch: str, tensors: dict, hp: dict, n_vocab: int) -> None:
    """Every tensor of a known architecture, its presence and shape, as its loader asks for them."""
    expected = expected_tensors(arch, hp, n_vocab)
    # Alternatives llama.cpp accepts: a fused QKV matrix instead of Q, K and V.
    for i in range(hp["n_layer"]):
        p = f"blk.{i}."
        if p + "attn_qkv.weight" in tensors:
            for part in ("q", "k", "v"):
                expected.pop(f"{p}attn_{part}.weight", None)
            qkv = sum((expected[f"{p}attn_{part}.bias"][0] or (0,))[0] for part in ("q", "k", "v"))
            expected[p + "attn_qkv.weight"] = ((hp["n_embd"], qkv), True)
            expected[p + "attn_qkv.bias"] = ((qkv,), False)
    for name, (shape, required) in expected.items():
        t = tensors.get(name)
        if t is None:
            if required:
                raise SemanticError(f"tensor {name!r} is missing ({arch} with block_count = {hp['n_layer']} "
                                    "needs it)")
            continue
        if shape is not None and tuple(t.dims) != shape:
            raise SemanticError(f"tensor {name!r} has shape {list(t.dims)}, the hyper-parameters imply {list(shape)}")
    extra = [name for name in tensors if name not in expected]
    if extra:
        raise SemanticError(f"tensor {extra[0]!r} is not part of a {arch} model"
                            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def _type_name(ggml_type: int) -> str:
    from gguf.constants import GGMLQuantizationType

    try:
        return GGMLQuantizationType(ggml_type).name
    except ValueError:
        return str(ggml_type)
