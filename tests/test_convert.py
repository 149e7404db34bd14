"""Conversion of synthetic Qwen3 and Qwen2 checkpoints to GGUF, and llama.cpp's quantizer."""

import json
import shutil

import gguf
import numpy as np
import pytest
from click.testing import CliRunner
from synthetic import QWEN3_4B_TWO_LAYERS, Spec, make_checkpoint

from edgejudge.cli import cli
from edgejudge.convert import convert, provenance_for, quantize, tensors
from edgejudge.errors import ConversionError
from edgejudge.store import gguf_file, registry

T = gguf.GGMLQuantizationType


def tensor_bytes(path, info, name):
    t = next(t for t in info.tensors if t.name == name)
    with open(path, "rb") as handle:
        handle.seek(info.data_offset + t.offset)
        return t, handle.read(t.n_bytes)


def source_f32(ckpt_dir, hf_name):
    from edgejudge.convert.checkpoint import open_checkpoint

    source = open_checkpoint(ckpt_dir).tensors[hf_name]
    raw = np.fromfile(source.file, dtype=np.uint8, count=source.nbytes, offset=source.offset)
    return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(source.shape), raw


@pytest.mark.parametrize("arch", ["qwen3", "qwen2"])
@pytest.mark.parametrize("outtype", ["bf16", "f16", "q8_0"])
def test_tensor_names_shapes_and_types(checkpoints, tmp_path, arch, outtype):
    out = convert(checkpoints[arch], tmp_path / "m.gguf", outtype=outtype).path
    info = gguf_file.read(out)
    assert info.architecture == arch
    names = {t.name: t for t in info.tensors}
    matrix_type = {"bf16": T.BF16, "f16": T.F16, "q8_0": T.Q8_0}[outtype]
    assert names["token_embd.weight"].dims == (256, 512) and names["token_embd.weight"].ggml_type == matrix_type
    assert names["blk.1.ffn_down.weight"].dims == (512, 256)
    assert names["blk.0.attn_k.weight"].dims == (256, 128)
    for name, t in names.items():
        if name.endswith("norm.weight") or name.endswith(".bias"):
            assert t.ggml_type == T.F32, name
    if arch == "qwen3":
        assert "blk.0.attn_q_norm.weight" in names and "output.weight" not in names  # tied embeddings
        assert info.get("qwen3.attention.key_length") == 64
    else:
        assert names["blk.0.attn_q.bias"].dims == (256,) and "output.weight" in names  # biases, untied
        assert "qwen2.attention.key_length" not in info.metadata
    assert info.get(f"{arch}.block_count") == 2 and info.get(f"{arch}.attention.head_count_kv") == 2
    assert info.get(f"{arch}.context_length") == 4096 and info.get(f"{arch}.rope.freq_base") == 1e6


def test_tokenizer_metadata(checkpoints, tmp_path):
    out = convert(checkpoints["qwen3"], tmp_path / "m.gguf",
                  provenance=provenance_for(registry.load().get("mr3-qwen3-4b"))).path
    reader = gguf.GGUFReader(out)

    def value(key):
        return reader.get_field(key).contents()

    tokens, types = value("tokenizer.ggml.tokens"), value("tokenizer.ggml.token_type")
    assert len(tokens) == 512 and tokens[-1] == "[PAD511]" and types[-1] == gguf.TokenType.UNUSED
    im_end = tokens.index("<|im_end|>")
    assert types[im_end] == gguf.TokenType.CONTROL
    assert types[tokens.index("<think>")] == gguf.TokenType.USER_DEFINED
    assert types[tokens.index("Ġ")] == gguf.TokenType.NORMAL
    assert value("tokenizer.ggml.model") == "gpt2" and value("tokenizer.ggml.pre") == "qwen2"
    assert value("tokenizer.ggml.eos_token_id") == im_end
    assert value("tokenizer.ggml.add_bos_token") is False
    merges = json.loads((checkpoints["qwen3"] / "tokenizer.json").read_text())["model"]["merges"]
    assert value("tokenizer.ggml.merges") == merges
    template = json.loads((checkpoints["qwen3"] / "tokenizer_config.json").read_text())["chat_template"]
    assert value("tokenizer.chat_template") == template
    assert value("edgejudge.family") == "mr3" and value("edgejudge.model_id") == "mr3-qwen3-4b"
    assert value("edgejudge.source.repo") == "rubricreward/mR3-Qwen3-4B-en-prompt-en-thinking"
    assert value("general.license") == "apache-2.0"


def test_deepseek_distill_tokenizer(checkpoints, tmp_path):
    reader = gguf.GGUFReader(convert(checkpoints["qwen2"], tmp_path / "m.gguf").path)
    tokens = reader.get_field("tokenizer.ggml.tokens").contents()
    assert reader.get_field("tokenizer.ggml.pre").contents() == "deepseek-r1-qwen"
    assert reader.get_field("tokenizer.ggml.bos_token_id").contents() == tokens.index("<｜begin▁of▁sentence｜>")
    assert reader.get_field("tokenizer.ggml.add_bos_token").contents() is True
    types = reader.get_field("tokenizer.ggml.token_type").contents()
    assert types[tokens.index("<｜User｜>")] == gguf.TokenType.CONTROL  # looks special: <｜...｜>


@pytest.mark.parametrize("outtype", ["bf16", "f16", "q8_0"])
def test_tensor_bytes_match_whole_tensor_conversion(checkpoints, tmp_path, monkeypatch, outtype):
    # Small chunks force every tensor through several chunks; the bytes must equal a one-shot
    # conversion of the whole tensor with gguf's routines (what the reference converter does).
    monkeypatch.setattr(tensors, "CHUNK_ELEMENTS", 1000)
    out = convert(checkpoints["qwen2"], tmp_path / "m.gguf", outtype=outtype).path
    info = gguf_file.read(out)
    for hf_name, name in (("model.embed_tokens.weight", "token_embd.weight"),
                          ("model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"),
                          ("model.layers.0.self_attn.k_proj.bias", "blk.0.attn_k.bias")):
        values, raw = source_f32(checkpoints["qwen2"], hf_name)
        t, data = tensor_bytes(out, info, name)
        expected = gguf.quants.quantize(values, T(t.ggml_type))
        assert data == np.ascontiguousarray(expected).tobytes(), name
        if t.ggml_type == T.BF16:
            assert data == raw.tobytes()


def test_bf16_passthrough_quiets_nans_like_the_reference():
    halves = np.array([0x3F80, 0x7FC1, 0x7F81, 0xFF81, 0x7F80], dtype=np.uint16)
    ours = tensors._bf16_passthrough(halves.view(np.uint8)).view(np.uint16)
    reference = gguf.quants.quantize((halves.astype(np.uint32) << 16).view(np.float32), T.BF16).view(np.uint16)
    assert ours.tolist() == reference.tolist()


def test_sharding_does_not_change_the_weights(tmp_path):
    one = make_checkpoint(tmp_path / "one", Spec(seed=3))
    many = make_checkpoint(tmp_path / "many", Spec(seed=3, shards=4))
    a, b = convert(one, tmp_path / "a.gguf").path, convert(many, tmp_path / "b.gguf").path
    ia, ib = gguf_file.read(a), gguf_file.read(b)
    for t in ia.tensors:
        assert tensor_bytes(a, ia, t.name)[1] == tensor_bytes(b, ib, t.name)[1]


def corrupt(kind, src, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(src, ckpt)
    shard = sorted(ckpt.glob("*.safetensors"))[-1]
    if kind == "unsupported architecture":
        config = json.loads((ckpt / "config.json").read_text())
        config["architectures"] = ["MistralForCausalLM"]
        (ckpt / "config.json").write_text(json.dumps(config))
        return ckpt, "config.json"
    if kind == "missing shard":
        shard.unlink()
        return ckpt, shard.name
    if kind == "truncated shard":
        data = shard.read_bytes()
        shard.write_bytes(data[: len(data) - 100])
        return ckpt, shard.name
    if kind == "shape mismatch":
        config = json.loads((ckpt / "config.json").read_text())
        config["intermediate_size"] = 768
        (ckpt / "config.json").write_text(json.dumps(config))
        return ckpt, "safetensors"
    if kind == "unreadable tokenizer":
        (ckpt / "tokenizer.json").write_text("{not json")
        return ckpt, "tokenizer.json"
    if kind == "missing tokenizer":
        (ckpt / "tokenizer.json").unlink()
        return ckpt, "tokenizer.json"
    if kind == "broken config":
        (ckpt / "config.json").write_text("[]")
        return ckpt, "config.json"
    if kind == "index disagrees":
        index = json.loads((ckpt / "model.safetensors.index.json").read_text())
        index["weight_map"]["model.layers.9.mlp.up_proj.weight"] = shard.name
        (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
        return ckpt, "index.json"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["unsupported architecture", "missing shard", "truncated shard", "shape mismatch",
                                  "unreadable tokenizer", "missing tokenizer", "broken config", "index disagrees"])
def test_bad_checkpoints_fail_clearly_and_leave_nothing(checkpoints, tmp_path, kind):
    ckpt, names = corrupt(kind, checkpoints["qwen2"], tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConversionError) as info:
        convert(ckpt, out_dir / "m.gguf")
    assert names in info.value.message
    assert list(out_dir.iterdir()) == []


def test_an_interrupted_conversion_leaves_no_partial_file(checkpoints, tmp_path, monkeypatch):
    real = tensors.converted_chunks
    calls = {"n": 0}

    def interrupted(source, qtype):
        for chunk in real(source, qtype):
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
            yield chunk

    monkeypatch.setattr(tensors, "converted_chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert(checkpoints["qwen3"], tmp_path / "m.gguf")
    assert list(tmp_path.iterdir()) == []


def test_quantization_ladder_sizes_and_validity(qwen3_gguf, tmp_path):
    sizes = {}
    for qtype in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"):
        result = quantize(qwen3_gguf["bf16"], tmp_path / f"{qtype}.gguf", qtype)
        info = gguf_file.read(result.path)
        assert info.quant == qtype and info.get("edgejudge.family") == "mr3"
        sizes[qtype] = result.size
    assert sizes["Q8_0"] > sizes["Q6_K"] > sizes["Q4_K_M"] > sizes["Q2_K"]
    assert qwen3_gguf["bf16"].stat().st_size > sizes["Q8_0"]
    assert not list(tmp_path.glob("*.part"))


def test_quantize_refuses_requantizing_and_bad_types(qwen3_gguf, tmp_path):
    with pytest.raises(ConversionError, match="already quantized"):
        quantize(qwen3_gguf["q4_k_m"], tmp_path / "x.gguf", "Q2_K")
    with pytest.raises(ConversionError, match="unknown quantization type"):
        quantize(qwen3_gguf["bf16"], tmp_path / "x.gguf", "Q9_X")
    assert not list(tmp_path.iterdir())


def test_converted_model_generates_a_grammar_constrained_verdict(qwen3_gguf):
    from edgejudge.backends.llama import runtime
    from edgejudge.backends.llama.engine import Engine
    from edgejudge.formats.gbnf import sentences_body
    from edgejudge.plan import Append, Generate, Plan, ReadLabels

    info = runtime.resolve(runtime.RuntimeSettings())
    for path in qwen3_gguf.values():
        model = runtime.LoadedModel(path, info)
        assert model.tokenize("<|im_start|>") == [model.tokenize("<|im_start|>")[0]]
        engine = Engine(model)
        prompt = "<|im_start|>user\nWhich response is better?<|im_end|>\n<|im_start|>assistant\n"
        outcome = engine.run(Plan(((prompt + '{"explanation": "', False),), (
            Generate("explanation", 12, grammar=sentences_body(), stop=('"',), close='"'),
            Append(', "score": "'), ReadLabels("v", ("Assistant A", "Assistant B"), terminator='"'))))
        read = outcome.labels["v"]
        assert read.best in ("Assistant A", "Assistant B")
        assert sum(read.probabilities.values()) == pytest.approx(1.0)
        assert '"' not in outcome.texts["explanation"]
        engine.close()
        model.close()


def test_real_qwen3_4b_widths_give_the_right_metadata(tmp_path):
    ckpt = make_checkpoint(tmp_path / "wide", QWEN3_4B_TWO_LAYERS)
    out = convert(ckpt, tmp_path / "wide.gguf").path
    info = gguf_file.read(out)
    md = info.metadata
    assert (md["qwen3.embedding_length"], md["qwen3.attention.head_count"], md["qwen3.attention.head_count_kv"],
            md["qwen3.attention.key_length"], md["qwen3.feed_forward_length"]) == (2560, 32, 8, 128, 9728)
    assert info.array_lengths["tokenizer.ggml.tokens"] == 151936
    dims = {t.name: t.dims for t in info.tensors}
    assert dims["token_embd.weight"] == (2560, 151936)
    assert dims["blk.0.attn_q.weight"] == (2560, 4096) and dims["blk.0.attn_k.weight"] == (2560, 1024)
    assert dims["blk.1.ffn_gate.weight"] == (2560, 9728) and dims["blk.1.attn_q_norm.weight"] == (128,)
    from edgejudge.backends.llama import runtime

    model = runtime.LoadedModel(out, runtime.resolve(runtime.RuntimeSettings()))
    assert model.n_vocab == 151936 and model.n_ctx_train == 4096
    model.close()


def test_cli_convert_and_quantize(checkpoints, tmp_path):
    runner = CliRunner()
    out = tmp_path / "c.gguf"
    result = runner.invoke(cli, ["convert", str(checkpoints["qwen3"]), "-o", str(out), "--outtype", "q8_0",
                                 "--model", "mr3-qwen3-4b"])
    assert result.exit_code == 0, result.output
    assert gguf_file.read(out).quant == "Q8_0"
    result = runner.invoke(cli, ["quantize", str(out), "-o", str(tmp_path / "q.gguf"), "--type", "Q4_K_M"])
    assert result.exit_code == 10 and "already quantized" in result.output
    result = runner.invoke(cli, ["convert", str(checkpoints["qwen3"]), "-o", str(out), "--model", "rm-r1-14b"])
    assert result.exit_code == 10 and "qwen3 checkpoint" in result.output


def test_add_flags_follow_the_post_processor():
    from edgejudge.convert.vocab import add_flags

    byte_level = {"post_processor": {"type": "ByteLevel"}}
    assert add_flags(byte_level, {"add_bos_token": True, "add_eos_token": True}) == {"bos": False, "eos": False}
    bos = {"SpecialToken": {"id": "<s>"}}
    template = {"post_processor": {"type": "TemplateProcessing",
                                   "single": [bos, {"Sequence": {"id": "A"}}],
                                   "pair": [bos, {"Sequence": {"id": "A"}}, bos, {"Sequence": {"id": "B"}}]}}
    assert add_flags(template, {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": False}) == \
        {"bos": True, "sep": False}
    assert add_flags({}, {"add_bos_token": True}) == {"bos": True}
    roberta = {"post_processor": {"type": "Sequence", "processors": [{"type": "RobertaProcessing"}]}}
    assert add_flags(roberta, {}) == {"bos": True, "eos": True, "sep": True}


def test_build_ladder_writes_every_quant_and_a_manifest(checkpoints, tmp_path):
    from edgejudge.convert import build_ladder
    from edgejudge.store.disk import file_sha256

    manifest = build_ladder("mr3-qwen3-4b", checkpoints["qwen3"], tmp_path, types=("Q8_0", "Q4_K_M", "Q2_K"))
    assert [e["quant"] for e in manifest["files"]] == ["BF16", "Q8_0", "Q4_K_M", "Q2_K"]
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest and on_disk["source"]["repo"] == "rubricreward/mR3-Qwen3-4B-en-prompt-en-thinking"
    for entry in on_disk["files"]:
        path = tmp_path / entry["file"]
        assert entry["size"] == path.stat().st_size and entry["sha256"] == file_sha256(path, use_cache=False)
        assert gguf_file.read(path).get("edgejudge.family") == "mr3"
