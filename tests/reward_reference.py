"""An independent reference for scalar reward models: Qwen3ForSequenceClassification's forward
pass in numpy (float64), written from the semantics of transformers' modeling code, and the
authors' input pipeline (the chat template rendered as ``apply_chat_template`` renders it).

Forward (transformers ``Qwen3Model`` + ``GenericForSequenceClassification``):
embedding → per layer: RMSNorm → q/k/v projections → per-head RMSNorm of q and k (``q_norm``,
``k_norm``, over the head dimension) → rotary embedding (rotate-half form, ``rope_theta``) →
causal attention with grouped KV heads (query head i reads KV head i // (heads / kv_heads)),
scaled by 1/sqrt(head_dim) → o_proj → residual; RMSNorm → SwiGLU MLP (down(silu(gate) * up)) →
residual. Then the final RMSNorm, ``score`` (no bias: transformers drops a ``score.bias``) on every position, and the value at the last
non-padding token (the last token when ``pad_token_id`` is unset or absent from the input).
RMSNorm: x / sqrt(mean(x²) + eps) * weight.

The test suite compares edgejudge's GGUF rewards with this (tests/test_reward.py), and the slow
test checks this reference itself against transformers where torch is installed.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np


def read_safetensors(folder: Path) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint folder, as float64 (BF16/F16/F32), without the safetensors package."""
    out: dict[str, np.ndarray] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        data = file.read_bytes()
        n = struct.unpack_from("<Q", data, 0)[0]
        header = json.loads(data[8:8 + n])
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, stop = info["data_offsets"]
            raw = np.frombuffer(data[base + start:base + stop], dtype=np.uint8)
            if info["dtype"] == "BF16":
                values = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
            elif info["dtype"] == "F16":
                values = raw.view(np.float16)
            else:
                values = raw.view(np.float32)
            out[name] = values.astype(np.float64).reshape(info["shape"])
    return out


def _rms(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * weight


def _rope(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """x: (heads, tokens, head_dim)."""
    dim = x.shape[-1]
    inv_freq = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = positions[:, None] * inv_freq[None, :]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)
    half = dim // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


class Reference:
    """A Qwen3ForSequenceClassification checkpoint folder, scored in numpy."""

    def __init__(self, folder: Path):
        self.config = json.loads((Path(folder) / "config.json").read_text())
        self.w = read_safetensors(folder)

    def hidden(self, ids: list[int]) -> np.ndarray:
        """The final normed hidden states, (tokens, hidden)."""
        c, w = self.config, self.w
        heads, kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        head_dim = c.get("head_dim") or c["hidden_size"] // heads
        eps, theta = c["rms_norm_eps"], c["rope_theta"]
        n = len(ids)
        positions = np.arange(n, dtype=np.float64)
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        x = w["model.embed_tokens.weight"][ids]
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = _rms(x, w[p + "input_layernorm.weight"], eps)
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(n, heads, head_dim).transpose(1, 0, 2)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(n, kv_heads, head_dim).transpose(1, 0, 2)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(n, kv_heads, head_dim).transpose(1, 0, 2)
            q = _rope(_rms(q, w[p + "self_attn.q_norm.weight"], eps), positions, theta)
            k = _rope(_rms(k, w[p + "self_attn.k_norm.weight"], eps), positions, theta)
            group = heads // kv_heads
            k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attn = (scores @ v).transpose(1, 0, 2).reshape(n, heads * head_dim)
            x = x + attn @ w[p + "self_attn.o_proj.weight"].T
            h = _rms(x, w[p + "post_attention_layernorm.weight"], eps)
            gate = h @ w[p + "mlp.gate_proj.weight"].T
            up = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
        return _rms(x, w["model.norm.weight"], eps)

    def reward(self, ids: list[int]) -> float:
        logits = self.hidden(ids) @ self.w["score.weight"].T  # transformers' head has no bias (one is ignored)
        pad = self.config.get("pad_token_id")
        last = len(ids) - 1
        if pad is not None:
            not_pad = [i for i, t in enumerate(ids) if t != pad]
            last = not_pad[-1] if not_pad else last
        return float(logits[last, 0])


def apply_chat_template(template: str, messages: list[dict], *, bos_token=None, eos_token=None) -> str:
    """What transformers' ``apply_chat_template(messages, tokenize=False)`` renders: Jinja2 in a
    sandbox with trim_blocks and lstrip_blocks, the loop controls extension, and no generation prompt."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value, indent=None, **kw: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, add_generation_prompt=False,
                                            bos_token=bos_token, eos_token=eos_token)
