"""Write a checkpoint as a GGUF file: metadata, tokenizer, and tensors streamed chunk by chunk.

The header, metadata and tensor infos are written by ``gguf.GGUFWriter``; the tensor data is then
streamed into the same file with GGUFWriter's layout (each tensor aligned to 32 bytes), so no
tensor is ever held whole in memory. The file is written under a temporary name beside the output
and renamed at the end: an error or an interrupt leaves no partial GGUF behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edgejudge import outputs
from edgejudge.convert import score_head, vocab
from edgejudge.convert import tensors as T
from edgejudge.convert.checkpoint import Checkpoint, open_checkpoint
from edgejudge.errors import ConversionError
from edgejudge.version import __version__


@dataclass(frozen=True)
class Provenance:
    """What the file alone should say about where it comes from and how to judge with it."""

    model_id: str = ""
    name: str = ""
    family: str = "generic"
    repo: str = ""
    revision: str = ""
    license: str = ""
    pre_tokenizer: str = ""
    architecture: str = ""


@dataclass(frozen=True)
class ConvertResult:
    path: Path
    outtype: str
    n_tensors: int
    size: int


def default_pre_tokenizer(ckpt: Checkpoint) -> str:
    """llama.cpp's pre-tokenizer name for a Qwen checkpoint without a registry entry."""
    config = ckpt.file("tokenizer_config.json")
    text = config.read_text(encoding="utf-8", errors="replace") if config.is_file() else ""
    if ckpt.architecture == "qwen2" and "<｜begin▁of▁sentence｜>" in text:
        return "deepseek-r1-qwen"
    return "qwen2"


def _file_type(outtype: str):
    from gguf import LlamaFileType

    return {"f16": LlamaFileType.MOSTLY_F16, "bf16": LlamaFileType.MOSTLY_BF16,
            "q8_0": LlamaFileType.MOSTLY_Q8_0, "f32": LlamaFileType.ALL_F32}[outtype]


def _add_hparams(writer, ckpt: Checkpoint, outtype: str) -> None:
    import gguf

    hp = ckpt.hparams
    writer.add_block_count(hp.num_layers)
    if hp.context_length is not None:
        writer.add_context_length(hp.context_length)
    writer.add_embedding_length(hp.hidden_size)
    writer.add_feed_forward_length(hp.intermediate_size)
    writer.add_head_count(hp.num_heads)
    writer.add_head_count_kv(hp.num_kv_heads)
    rope = ckpt.config.get("rope_parameters", ckpt.config.get("rope_scaling")) or {}
    rope_type = rope.get("rope_type", rope.get("type"))
    factor = rope.get("factor")
    if rope_type == "linear" and factor is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(factor)
    elif rope_type == "yarn" and factor is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(factor)
        writer.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
    theta = rope.get("rope_theta", hp.rope_theta)
    if theta is not None:
        writer.add_rope_freq_base(theta)
    if hp.rms_norm_eps is not None:
        writer.add_layer_norm_rms_eps(hp.rms_norm_eps)
    if hp.head_dim_explicit:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    writer.add_file_type(_file_type(outtype))


def _add_provenance(writer, prov: Provenance) -> None:
    if prov.license:
        writer.add_license(prov.license)
    if prov.repo:
        writer.add_string("general.source.huggingface.repository", prov.repo)
    writer.add_string("edgejudge.family", prov.family)
    writer.add_string("edgejudge.format", prov.family)
    writer.add_string("edgejudge.converter", f"edgejudge {__version__}")
    for key, value in (("model_id", prov.model_id), ("source.repo", prov.repo),
                       ("source.revision", prov.revision), ("license", prov.license)):
        if value:
            writer.add_string(f"edgejudge.{key}", value)


def _reward_provenance(ckpt: Checkpoint, prov: Provenance) -> Provenance:
    """A classifier converts for the reward family only (it has no verdict tokens to read)."""
    if prov.family == "generic" and not prov.model_id:
        return replace(prov, family="reward")
    if prov.family != "reward":
        raise ConversionError(
            f"{ckpt.path} is a {ckpt.hf_architecture} checkpoint (a scalar reward model) but "
            f"{prov.model_id or 'the model'} is a {prov.family} judge",
            hint="check --model: a sequence classifier converts for a reward model (family reward)")
    return prov


def convert(src: str | Path, out: str | Path, *, outtype: str = "bf16", provenance: Provenance | None = None,
            progress: Callable[[int, int], None] | None = None) -> ConvertResult:
    """Convert the checkpoint folder ``src`` to the GGUF file ``out``."""
    import gguf
    import numpy as np

    if outtype not in T.OUTTYPES:
        raise ConversionError(f"output type {outtype!r} is not one of {', '.join(T.OUTTYPES)}")
    out = Path(out)
    # Before any work: a refused output is known at once. The inputs: the checkpoint's files.
    target = outputs.target(out, inputs=[p for p in Path(src).glob("*") if p.is_file()])
    ckpt = open_checkpoint(src)
    prov = provenance or Provenance()
    head = None
    if score_head.is_classifier(ckpt):
        head = score_head.read_head(ckpt)
        ckpt = score_head.backbone(ckpt)
        prov = _reward_provenance(ckpt, prov)
    elif prov.family == "reward":
        raise ConversionError(
            f"{ckpt.path} is a {ckpt.hf_architecture} checkpoint but {prov.model_id or 'the model'} is a reward "
            "model (a sequence classifier with a score head)",
            hint="check --model: the checkpoint folder does not belong to that model")
    T.check_tensors(ckpt)
    if prov.architecture and prov.architecture != ckpt.architecture:
        raise ConversionError(
            f"{ckpt.path} is a {ckpt.architecture} checkpoint but {prov.model_id or 'the model'} is {prov.architecture}",
            hint="check --model: the checkpoint folder does not belong to that model",
        )
    pre = prov.pre_tokenizer or default_pre_tokenizer(ckpt)

    writer = gguf.GGUFWriter(path=None, arch=ckpt.architecture)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(prov.name or ckpt.path.name)
    _add_hparams(writer, ckpt, outtype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    vocab.add_to_writer(writer, ckpt, pre)
    _add_provenance(writer, prov)
    if head is not None:
        score_head.add_to_writer(writer, head)

    plan = []
    for hf_name in sorted(ckpt.tensors, key=_tensor_order):
        source = ckpt.tensors[hf_name]
        name = T.gguf_name(ckpt, hf_name)
        qtype = T.target_type(name, source.shape, outtype)
        size = T.nbytes(source.shape, qtype)
        # A non-uint8 dtype tells GGUFWriter the shape is in elements; raw_dtype gives the type.
        writer.add_tensor_info(name, source.shape, np.dtype(np.float32), size, raw_dtype=qtype)
        plan.append((source, qtype, size))

    total = sum(size for *_, size in plan)
    done = 0
    with target.replacing() as tmp:
        try:
            writer.write_header_to_file(path=tmp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            assert writer.fout is not None  # write_header_to_file opened it
            handle = writer.fout[0]
            for source, qtype, size in plan:
                writer.write_padding(handle, handle.tell())
                written = 0
                for chunk in T.converted_chunks(source, qtype):
                    chunk.tofile(handle)
                    written += chunk.nbytes
                    done += chunk.nbytes
                    if progress is not None:
                        progress(done, total)
                if written != size:
                    raise ConversionError(f"{source.file}: tensor {source.name} produced {written} bytes, "
                                          f"expected {size}")
                writer.write_padding(handle, size)
            handle.flush()
        finally:
            writer.close()
    return ConvertResult(out, outtype, len(plan), out.stat().st_size)


def _tensor_order(name: str):
    # token_embd first, then layer by layer, then the output: the order llama.cpp reads them in.
    parts = name.split(".")
    layer = next((int(p) for p in parts if p.isdecimal()), None)
    if name.startswith("model.embed_tokens"):
        return (0, 0, name)
    if layer is not None:
        return (1, layer, name)
    return (2, 0, name)
