"""A Hugging Face checkpoint folder, opened and checked before any byte is converted.

Reads ``config.json``, the safetensors shards (one file, or several with
``model.safetensors.index.json``), and checks each shard's header with the ``safetensors``
library (which refuses a truncated file: its header must account for every byte). Tensor data is
never loaded here: each tensor is a byte range of a shard, memory-mapped later in chunks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from edgejudge.errors import ConversionError

# config "architectures" → the GGUF architecture name llama.cpp loads.
# Sequence classifiers (scalar reward models) convert as their backbone; their head goes into the
# metadata (convert/score_head.py).
ARCHITECTURES = {"Qwen3ForCausalLM": "qwen3", "Qwen2ForCausalLM": "qwen2",
                 "Qwen3ForSequenceClassification": "qwen3", "Qwen2ForSequenceClassification": "qwen2"}
DTYPES = {"BF16": 2, "F16": 2, "F32": 4}
SKIPPED_SUFFIXES = (".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")
MAX_LAYERS = 512  # LLAMA_MAX_LAYERS: llama.cpp aborts on a block_count above it


@dataclass(frozen=True)
class TensorSource:
    """Where one tensor's bytes are: a range of a shard."""

    name: str
    file: Path
    offset: int
    nbytes: int
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class HParams:
    """The config values the conversion needs, checked."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    context_length: int | None
    rope_theta: float | None
    rms_norm_eps: float | None
    tie_word_embeddings: bool
    head_dim_explicit: bool


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: dict
    hf_architecture: str
    architecture: str
    hparams: HParams
    tensors: dict[str, TensorSource]

    def file(self, name: str) -> Path:
        return self.path / name


def _fail(path: Path, problem: str, hint: str | None = None) -> ConversionError:
    return ConversionError(f"{path}: {problem}", hint=hint or "check the checkpoint folder (re-download it if needed)")


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"unreadable or not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _fail(path, "expected a JSON object")
    return data


def _hparams(config: dict, path: Path) -> HParams:
    def integer(key: str, *, required: bool = True, default=None):
        value = config.get(key, default)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 1 << 31:
            raise _fail(path, f"{key} must be a positive integer (below 2^31), got {value!r}")
        return value

    def number(key: str, value, *, positive: bool):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0 or (positive and value == 0):
            raise _fail(path, f"{key} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
        return value

    def flag(key: str) -> bool:
        value = config.get(key, False)
        if value is not None and not isinstance(value, bool):
            raise _fail(path, f"{key} must be true or false, got {value!r}")
        return bool(value)

    heads = integer("num_attention_heads")
    hidden = integer("hidden_size")
    layers = integer("num_hidden_layers")
    if layers > MAX_LAYERS:
        raise _fail(path, f"num_hidden_layers = {layers} is more than llama.cpp loads ({MAX_LAYERS})")
    rope = _rope(config, path, number)
    flag("attention_bias")
    head_dim = config.get("head_dim")
    explicit = head_dim is not None
    if head_dim is None:
        if hidden % heads:
            raise _fail(path, f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
        head_dim = hidden // heads
    kv_heads = integer("num_key_value_heads", default=heads)
    if heads % kv_heads:
        raise _fail(path, f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}")
    return HParams(
        vocab_size=integer("vocab_size"),
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=integer("head_dim", default=head_dim),
        intermediate_size=integer("intermediate_size"),
        context_length=integer("max_position_embeddings", required=False),
        rope_theta=number("rope_theta", rope.get("rope_theta", config.get("rope_theta")), positive=True),
        rms_norm_eps=number("rms_norm_eps", config.get("rms_norm_eps"), positive=False),
        tie_word_embeddings=flag("tie_word_embeddings"),
        head_dim_explicit=explicit,
    )


def _rope(config: dict, path: Path, number) -> dict:
    """The rope scaling settings (``rope_parameters`` or the older ``rope_scaling``), type-checked."""
    key = "rope_parameters" if "rope_parameters" in config else "rope_scaling"
    rope = config.get(key) or {}
    if not isinstance(rope, dict):
        raise _fail(path, f"{key} must be an object, got {rope!r}")
    kind = rope.get("rope_type", rope.get("type"))
    if kind is not None and not isinstance(kind, str):
        raise _fail(path, f"{key}.rope_type must be a string, got {kind!r}")
    number(f"{key}.factor", rope.get("factor"), positive=True)
    if kind == "yarn" and rope.get("factor") is not None:
        original = rope.get("original_max_position_embeddings")
        if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
            raise _fail(path, f"{key}.original_max_position_embeddings must be a positive integer for yarn, "
                              f"got {original!r}")
    return rope


def _shard_names(path: Path) -> list[str]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise _fail(index, "has no weight_map")
        return sorted(set(weight_map.values()))
    if (path / "model.safetensors").is_file():
        return ["model.safetensors"]
    shards = sorted(p.name for p in path.glob("model-*.safetensors"))
    if shards:
        return shards
    raise _fail(path, "holds no model.safetensors (nor shards with model.safetensors.index.json)",
                hint="point at a Hugging Face checkpoint folder with safetensors weights")


def _read_shard(file: Path) -> dict[str, TensorSource]:
    from gguf.utility import SafetensorsLocal
    from safetensors import SafetensorError, safe_open

    if not file.is_file():
        raise _fail(file, "shard is missing", hint="the download is incomplete: fetch the missing shard")
    try:
        # safetensors validates the header against the file size: a truncated shard fails here.
        with safe_open(str(file), framework="numpy"):
            pass
        local = SafetensorsLocal(file)
    except (SafetensorError, ValueError, OSError) as exc:
        raise _fail(file, f"is not a complete safetensors file ({exc})",
                    hint="the shard is truncated or corrupt: download it again") from None
    sources = {}
    for name, tensor in local.tensors.items():
        if tensor.dtype not in DTYPES:
            raise _fail(file, f"tensor {name} has dtype {tensor.dtype}; only BF16, F16 and F32 are supported")
        expected = math.prod(tensor.shape) * DTYPES[tensor.dtype]
        if tensor.data_range.size != expected:
            raise _fail(file, f"tensor {name} holds {tensor.data_range.size} bytes, its shape needs {expected}")
        sources[name] = TensorSource(name, file, tensor.data_range.offset, tensor.data_range.size,
                                     tensor.dtype, tuple(tensor.shape))
    return sources


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open and check a checkpoint folder (config, every shard's header, the index)."""
    path = Path(path)
    if not path.is_dir():
        raise ConversionError(f"{path} is not a checkpoint folder",
                              hint="give the folder holding config.json and the *.safetensors files")
    config = read_json(path / "config.json")
    names = config.get("architectures") or []
    hf_arch = names[0] if isinstance(names, list) and names else None
    if not isinstance(hf_arch, str) or hf_arch not in ARCHITECTURES:
        raise _fail(path / "config.json", f"architecture {hf_arch!r} is not supported",
                    hint=f"edgejudge converts {', '.join(ARCHITECTURES)} checkpoints")
    hparams = _hparams(config, path / "config.json")
    tensors: dict[str, TensorSource] = {}
    for shard in _shard_names(path):
        for name, source in _read_shard(path / shard).items():
            if name in tensors:
                raise _fail(path / shard, f"tensor {name} also appears in {tensors[name].file.name}")
            tensors[name] = source
    index = path / "model.safetensors.index.json"
    if index.is_file():
        expected = set(read_json(index)["weight_map"])
        if expected != set(tensors):
            missing = sorted(expected - set(tensors))[:5]
            extra = sorted(set(tensors) - expected)[:5]
            raise _fail(index, f"does not match the shards (missing {missing}, unexpected {extra})")
    tensors = {n: s for n, s in tensors.items() if not n.endswith(SKIPPED_SUFFIXES)}
    return Checkpoint(path, config, hf_arch, ARCHITECTURES[hf_arch], hparams, tensors)
