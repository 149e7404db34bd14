"""The tensors each architecture edgejudge checks implies, with their shapes, as llama.cpp's loader
(``load_arch_tensors`` in llama-model.cpp of the pinned build) asks for them."""

from __future__ import annotations

# Architectures whose tensor lists and shapes are checked in full; others get the general rules.
KNOWN = ("llama", "qwen2", "qwen3", "gemma3")


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
