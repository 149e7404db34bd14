"""Hugging Face checkpoints → GGUF, and the quantization ladder, without torch.

``convert`` writes a Qwen2/Qwen3 safetensors checkpoint as an F16, BF16 or Q8_0 GGUF (built on
the ``gguf`` package, numpy and safetensors); ``quantize`` runs llama.cpp's quantizer;
``build_ladder`` does both for a registered model and writes a manifest. The scripts in the
checkout's top-level ``convert/`` folder are thin wrappers around these functions.
"""

from edgejudge.convert.ladder import build_ladder, provenance_for
from edgejudge.convert.quantize import LADDER, quantize
from edgejudge.convert.writer import Provenance, convert

__all__ = ["LADDER", "Provenance", "build_ladder", "convert", "provenance_for", "quantize"]
