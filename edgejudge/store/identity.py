"""Is a GGUF the model it is stored as? The quant it really holds (its file type, or the type of
most of its matrices), and the registry's facts about a model (architecture, family,
pre-tokenizer, vocabulary size) against the file's header."""

from __future__ import annotations

from edgejudge.errors import ModelFileError
from edgejudge.store import registry
from edgejudge.store.gguf_file import GGUFInfo


def file_quant(info: GGUFInfo) -> str:
    """The quantization the file really has: its ``general.file_type``, else the type that holds
    most of its matrices' elements (``Q4_K`` for a Q4_K_M file without a file type)."""
    if info.quant:
        return info.quant
    from gguf.constants import GGMLQuantizationType

    weights: dict[int, int] = {}
    for tensor in info.tensors:
        if len(tensor.dims) >= 2:
            count = 1
            for d in tensor.dims:
                count *= d
            weights[tensor.ggml_type] = weights.get(tensor.ggml_type, 0) + count
    if not weights:
        weights = {t.ggml_type: 1 for t in info.tensors[:1]}
    dominant = max(weights, key=weights.__getitem__)
    try:
        return GGMLQuantizationType(dominant).name
    except ValueError:
        return "unknown"


def quant_agrees(claimed: str, info: GGUFInfo) -> bool:
    """Whether a quant name (``Q4_K_M``) is what the file holds: its file type when it has one,
    else its dominant tensor type (``Q4_K`` for ``Q4_K_M``/``Q4_K_S``)."""
    claimed = claimed.upper()
    if info.quant:
        return claimed == info.quant.upper()
    real = file_quant(info).upper()
    return claimed == real or claimed.rsplit("_", 1)[0] == real


def check_identity(info: GGUFInfo, model_id: str, quant: str) -> None:
    """Refuse a file that is not the model it is stored as: the registry's architecture, family,
    pre-tokenizer and vocabulary size (for a registered id), and the quant the file really holds."""
    spec = registry.load().models.get(model_id)
    what = f"{info.path} cannot be {model_id}:{quant}"
    problems = []
    if spec is not None:
        family = info.get("edgejudge.family")
        pre = info.get("tokenizer.ggml.pre")
        if info.architecture != spec.architecture:
            problems.append(f"its architecture is {info.architecture!r}, {spec.id}'s is {spec.architecture!r}")
        if isinstance(family, str) and family != spec.family:
            problems.append(f"it was converted for the {family!r} judge family, {spec.id} is {spec.family!r}")
        if isinstance(pre, str) and pre != spec.pre_tokenizer:
            problems.append(f"its pre-tokenizer is {pre!r}, {spec.id}'s is {spec.pre_tokenizer!r}")
        if spec.vocab_size is not None and info.vocab_size is not None and info.vocab_size != spec.vocab_size:
            problems.append(f"its vocabulary has {info.vocab_size:,} tokens, {spec.id}'s has {spec.vocab_size:,}")
    real = file_quant(info)
    if not quant_agrees(quant, info):
        problems.append(f"it holds {real}, not {quant}")
    if not problems:
        return
    if len(problems) == 1 and problems[0].startswith("it holds"):
        hint = f"store it as {model_id}:{real}"
    else:
        hint = "this is another model; import it under an id of its own (--as my-model:QUANT)"
    raise ModelFileError(f"{what}: " + "; ".join(problems), hint=hint)
