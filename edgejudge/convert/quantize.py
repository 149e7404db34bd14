"""Quantize a GGUF with llama.cpp's own quantizer (``llama_model_quantize``), on every thread.

The input is validated first (llama.cpp's quantizer trusts its input as much as its loader does),
the output is written under a temporary name and renamed when complete, and re-quantizing an
already quantized file is refused unless asked for (it costs quality).
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

from edgejudge import outputs
from edgejudge.backends.llama import hardware, runtime
from edgejudge.errors import ConversionError
from edgejudge.store import gguf_file

LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
TYPES = LADDER + ("Q4_K_S", "Q5_K_S", "Q3_K_S", "Q3_K_L", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "IQ4_XS",
                  "F16", "BF16")
_UNQUANTIZED = ("F32", "F16", "BF16")


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    type: str
    size: int
    seconds: float


def canonical_type(name: str) -> str:
    wanted = name.strip().upper()
    if wanted not in TYPES:
        raise ConversionError(f"unknown quantization type {name!r}", hint=f"choose one of {', '.join(TYPES)}")
    return wanted


def quantize(src: str | Path, out: str | Path, qtype: str, *, threads: int | None = None,
             allow_requantize: bool = False) -> QuantizeResult:
    """Quantize the GGUF ``src`` to ``out`` as ``qtype`` (e.g. ``Q4_K_M``)."""
    qtype = canonical_type(qtype)
    src, out = Path(src), Path(out)
    target = outputs.target(out, inputs=[src])  # before any work: a refused output is known at once
    info = gguf_file.read(src)
    if info.quant and info.quant not in _UNQUANTIZED and not allow_requantize:
        raise ConversionError(
            f"{src} is already quantized ({info.quant}); quantizing it again loses quality",
            hint="quantize from the F16/BF16 GGUF, or pass --allow-requantize",
        )
    lib = runtime.llama()
    params = lib.llama_model_quantize_default_params()
    params.ftype = getattr(lib, f"LLAMA_FTYPE_MOSTLY_{qtype}")
    params.nthread = threads or hardware.usable_threads()
    params.allow_requantize = allow_requantize
    started = time.perf_counter()
    with target.replacing(inputs=[src]) as tmp:
        rc = lib.llama_model_quantize(os.fsencode(src), os.fsencode(tmp), params)
        if rc != 0:
            if outputs.full_disk(tmp.parent, os.path.getsize(src) // 2):  # llama.cpp says "iostream error"
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise ConversionError(f"llama.cpp could not quantize {src} to {qtype}: {runtime.recent_errors() or rc}",
                                  hint="check that the input is a complete F16/BF16 GGUF")
        gguf_file.read(tmp)  # what llama.cpp wrote must be a valid GGUF
    return QuantizeResult(out, qtype, out.stat().st_size, time.perf_counter() - started)
