"""The score head of a sequence-classification checkpoint (a scalar reward model), kept in metadata.

A ``Qwen3ForSequenceClassification`` (or Qwen2) reward model is a causal backbone whose final,
normed hidden state at the last token goes through ``score`` (a ``Linear(hidden, num_labels)``
without bias in transformers' classes: a ``score.bias`` in a checkpoint is ignored, as
transformers ignores it when it loads the model). llama.cpp has no tensor for such a head on a causal model and
refuses a file with tensors it does not expect, and its Qwen3 rank pooling applies a softmax over
the head's outputs (always 1.0 for one output). So the backbone is written as a plain Qwen2/Qwen3
model and the head goes into the GGUF's metadata under edgejudge's own keys, as float32 (lossless;
4,096 floats at most for the Qwen3 sizes, 16 KiB): quantizing the file copies metadata as is.
At run time (``backends/llama/reward.py``) llama.cpp returns the last token's normed hidden state
(embeddings, LAST pooling) and edgejudge applies the head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgejudge.convert.checkpoint import Checkpoint, TensorSource
from edgejudge.errors import ConversionError

WEIGHT_KEY = "edgejudge.score_head.weight"
HEAD_TENSORS = ("score.weight", "score.bias")


@dataclass(frozen=True)
class ScoreHead:
    weight: np.ndarray  # float32, the hidden size


def is_classifier(ckpt: Checkpoint) -> bool:
    return ckpt.hf_architecture.endswith("ForSequenceClassification")


def _labels_in_config(config: dict) -> int | None:
    """The label count config.json states (``num_labels``, else the length of ``id2label``)."""
    value = config.get("num_labels")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    labels = config.get("id2label")
    return len(labels) if isinstance(labels, dict) and labels else None


def _floats(source: TensorSource) -> np.ndarray:
    with open(source.file, "rb") as handle:
        handle.seek(source.offset)
        raw = handle.read(source.nbytes)
    if len(raw) != source.nbytes:
        raise ConversionError(f"{source.file}: tensor {source.name} ends early (the shard is truncated)",
                              hint="download the shard again")
    data = np.frombuffer(raw, dtype=np.uint8)
    if source.dtype == "F32":
        return data.view(np.float32).astype(np.float32)
    if source.dtype == "F16":
        return data.view(np.float16).astype(np.float32)
    return (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def read_head(ckpt: Checkpoint) -> ScoreHead:
    """The one-output score head, checked: one label, as wide as the hidden state, finite."""
    where = ckpt.path / "config.json"
    source = ckpt.tensors.get("score.weight")
    if source is None:
        raise ConversionError(f"{ckpt.path}: a {ckpt.hf_architecture} checkpoint without score.weight",
                              hint="the classifier head is missing: re-download the checkpoint")
    if len(source.shape) != 2:
        raise ConversionError(f"{source.file}: score.weight has shape {list(source.shape)}, expected "
                              "[num_labels, hidden_size]", hint="this is not a sequence-classification head")
    labels, width = source.shape
    stated = _labels_in_config(ckpt.config)
    if labels != 1 or (stated is not None and stated != 1):
        count = labels if labels != 1 else stated
        raise ConversionError(
            f"{where}: the classifier has {count} labels; edgejudge runs scalar reward models (num_labels = 1)",
            hint="a reward model's head has one output (a Bradley-Terry score); a multi-label classifier "
                 "is not a judge edgejudge can run")
    hidden = ckpt.hparams.hidden_size
    if width != hidden:
        raise ConversionError(f"{source.file}: score.weight is {width} wide but hidden_size is {hidden}",
                              hint="config.json and the head disagree: re-download the checkpoint")
    weight = _floats(source).reshape(hidden)
    if not np.isfinite(weight).all():
        raise ConversionError(f"{source.file}: the score head holds NaN or infinite values",
                              hint="the checkpoint is broken: re-download it")
    return ScoreHead(weight)


def backbone(ckpt: Checkpoint) -> Checkpoint:
    """The checkpoint without its head, converted as a plain model. A classifier has no LM head:
    it is treated as tied (llama.cpp then uses the token embedding as its output matrix, which the
    reward path never reads)."""
    tensors = {n: s for n, s in ckpt.tensors.items() if n not in HEAD_TENSORS}
    return replace(ckpt, tensors=tensors, hparams=replace(ckpt.hparams, tie_word_embeddings=True))


def add_to_writer(writer, head: ScoreHead) -> None:
    writer.add_array(WEIGHT_KEY, [float(v) for v in head.weight])  # Python floats: a FLOAT32 array
