"""Hostile model files, chat templates, checkpoints and output paths: each is a clear error with its
exit code, llama.cpp never sees a file it would abort on, and nothing at an output path is lost.

The GGUF mutations start from the synthetic Qwen3 checkpoint converted by edgejudge (and the same
file renamed to llama and gemma3). ``LLAMA_CPP`` records what llama.cpp itself does with each
mutated file, proven by ``test_llama_cpp_itself_aborts_on_the_mutations`` (marked slow: one
subprocess per file, straight into llama.cpp past our checks).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from gguf_edit import read_kvs, rewrite

from edgejudge import files, outputs
from edgejudge.errors import ConversionError, InputError, ModelFileError, UsageError
from edgejudge.formats import chat, render
from edgejudge.plan import slot
from edgejudge.store import gguf_file

HERE = Path(__file__).resolve().parent


def _v():
    import gguf

    return gguf.GGUFValueType, gguf.GGMLQuantizationType


# -- the model files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bases(checkpoints, tmp_path_factory):
    """Valid GGUFs of each supported architecture, made from the synthetic Qwen3 checkpoint."""
    from edgejudge.convert import convert

    root = tmp_path_factory.mktemp("hostile-bases")
    qwen3 = convert(checkpoints["qwen3"], root / "qwen3.gguf", outtype="f16").path
    llama = rewrite(qwen3, root / "llama.gguf", arch="llama",
                    tensors=lambda n, d, q: None if n.endswith(("attn_q_norm.weight", "attn_k_norm.weight")) else (d, q))
    ones = np.ones(256, dtype=np.float32)
    gemma3 = rewrite(qwen3, root / "gemma3.gguf", arch="gemma3",
                     extra=tuple((f"blk.{i}.{n}.weight", ones) for i in range(2)
                                 for n in ("post_attention_norm", "post_ffw_norm")))
    return {"qwen3": qwen3, "llama": llama, "gemma3": gemma3}


def _retype_f16(target):
    def edit(name, data, qtype):
        _, t = _v()
        return (data.astype(np.float16), t.F16) if name == target else (data, qtype)
    return edit


def _tokens_edit(reader_kvs, change):
    v, _ = _v()
    tokens = list(reader_kvs["tokenizer.ggml.tokens"][0])
    change(tokens)
    return {"tokenizer.ggml.tokens": (tokens, v.ARRAY, v.STRING)}


def _mutations():
    """name → (base, edit(kvs) → rewrite kwargs, words the error must hold)."""
    v, t = _v()
    u32 = v.UINT32

    def kv(**pairs):
        return lambda kvs: {"kv": {k.replace("__", "."): val for k, val in pairs.items()}}

    def tok_types(kvs):
        types = list(kvs["tokenizer.ggml.token_type"][0])
        types[10] = 99
        return {"kv": {"tokenizer.ggml.token_type": (types, v.ARRAY, v.INT32)}}

    def dup(kvs):
        return {"kv": _tokens_edit(kvs, lambda tokens: tokens.__setitem__(300, tokens[301]))}

    def as_i32(name, data, qtype):
        return (data.astype(np.float32).view(np.int32), t.I32) if name == "blk.0.attn_q.weight" else (data, qtype)

    return {
        "block_count 0": ("qwen3", kv(qwen3__block_count=(0, u32)), "qwen3.block_count = 0"),
        "block_count huge": ("qwen3", kv(qwen3__block_count=(100000, u32)), "qwen3.block_count = 100000"),
        "expert_count 1000": ("qwen3", kv(qwen3__expert_count=(1000, u32)), "qwen3.expert_count = 1000"),
        "expert_count past the maximum": ("qwen3", kv(qwen3__expert_count=(2000, u32), qwen3__expert_used_count=(2, u32)),
                                          "qwen3.expert_count = 2000"),
        "expert_used_count > expert_count": ("qwen3", kv(qwen3__expert_count=(2, u32), qwen3__expert_used_count=(3, u32)),
                                             "qwen3.expert_used_count = 3"),
        "expert groups without experts": ("qwen3", kv(qwen3__expert_group_count=(2, u32)), "qwen3.expert_group_count"),
        "nextn layers > block_count": ("qwen3", kv(qwen3__nextn_predict_layers=(5, u32)), "qwen3.nextn_predict_layers"),
        "unknown rope scaling type": ("qwen3", kv(qwen3__rope__scaling__type=("bogus", v.STRING)), "rope.scaling.type"),
        "rope dimensions != head size": ("qwen3", kv(qwen3__rope__dimension_count=(32, u32)), "rope.dimension_count"),
        "llama rope dimensions != head size": ("llama", kv(llama__rope__dimension_count=(32, u32)), "rope.dimension_count"),
        "duplicate token": ("qwen3", dup, "tokens 300 and 301"),
        "norm retyped F16": ("qwen3", lambda kvs: {"tensors": _retype_f16("blk.0.attn_norm.weight")},
                             "'blk.0.attn_norm.weight' has type F16"),
        "q_norm retyped F16": ("qwen3", lambda kvs: {"tensors": _retype_f16("blk.1.attn_q_norm.weight")},
                               "'blk.1.attn_q_norm.weight' has type F16"),
        "llama output_norm retyped F16": ("llama", lambda kvs: {"tensors": _retype_f16("output_norm.weight")},
                                          "'output_norm.weight' has type F16"),
        "gemma3 post norm retyped F16": ("gemma3", lambda kvs: {"tensors": _retype_f16("blk.0.post_ffw_norm.weight")},
                                         "'blk.0.post_ffw_norm.weight' has type F16"),
        "weight retyped I32": ("qwen3", lambda kvs: {"tensors": as_i32}, "'blk.0.attn_q.weight' has type I32"),
        "no vocabulary": ("qwen3", kv(tokenizer__ggml__model=("none", v.STRING)), "tokenizer.ggml.model"),
        "token type 99": ("qwen3", tok_types, "tokenizer.ggml.token_type[10] = 99"),
        "eos id out of range": ("qwen3", kv(tokenizer__ggml__eos_token_id=(100000, u32)), "eos_token_id = 100000"),
        "head_count not a multiple of head_count_kv": ("qwen3", kv(qwen3__attention__head_count_kv=(3, u32)),
                                                       "head_count_kv = 3"),
        "missing tensor": ("qwen3", lambda kvs: {"tensors": lambda n, d, q: None if n == "blk.1.ffn_up.weight" else (d, q)},
                           "'blk.1.ffn_up.weight' is missing"),
        "gemma3 without its post norms": ("qwen3", lambda kvs: {"arch": "gemma3"}, "post_attention_norm.weight' is missing"),
        "tensor foreign to the architecture": ("llama", lambda kvs: {"extra": (("blk.0.attn_q_norm.weight", np.ones(64)),)},
                                               "'blk.0.attn_q_norm.weight' is not part of a llama model"),
    }


MUTATIONS = _mutations()

# What llama.cpp itself does with each file, past our checks (proven by the slow test below):
# "abort" = SIGABRT (the process dies, no error, no record); "refuse" = a load error; "loads" = it
# runs, where our rule is stricter than llama.cpp's (a token type it would treat as undefined, a
# stop token id it would silently replace).
LLAMA_CPP = {
    "block_count 0": "abort", "block_count huge": "abort", "expert_count 1000": "abort",
    "expert_count past the maximum": "abort", "expert_used_count > expert_count": "abort",
    "expert groups without experts": "abort", "nextn layers > block_count": "abort",
    "unknown rope scaling type": "abort", "rope dimensions != head size": "abort",
    "llama rope dimensions != head size": "refuse", "duplicate token": "abort", "norm retyped F16": "abort",
    "q_norm retyped F16": "abort", "llama output_norm retyped F16": "abort", "gemma3 post norm retyped F16": "abort",
    "weight retyped I32": "refuse", "no vocabulary": "refuse", "token type 99": "loads", "eos id out of range": "loads",
    "head_count not a multiple of head_count_kv": "refuse", "missing tensor": "refuse",
    "gemma3 without its post norms": "refuse", "tensor foreign to the architecture": "refuse",
}


@pytest.fixture(scope="module")
def mutated(bases, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-mutations")
    made = {}
    kvs_of = {}

    def make(name):
        if name not in made:
            base, edit, _ = MUTATIONS[name]
            if base not in kvs_of:
                import gguf

                kvs_of[base] = read_kvs(gguf.GGUFReader(bases[base]))
            made[name] = rewrite(bases[base], root / f"{len(made)}.gguf", **edit(kvs_of[base]))
        return made[name]

    return make


def test_every_mutation_has_a_proven_llama_cpp_outcome():
    assert set(LLAMA_CPP) == set(MUTATIONS)


@pytest.mark.parametrize("arch", ["qwen3", "llama", "gemma3"])
def test_the_base_files_pass(bases, arch):
    assert gguf_file.read(bases[arch]).architecture == arch


@pytest.mark.model
def test_a_real_llama_gguf_passes(smollm2_path):
    assert gguf_file.read(smollm2_path).architecture == "llama"


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutation_is_refused_before_llama_cpp_sees_it(mutated, monkeypatch, name):
    from edgejudge import Judge
    from edgejudge.backends.llama import runtime

    def never(*args, **kwargs):
        raise AssertionError("llama.cpp was asked to load a file our checks should have refused")

    monkeypatch.setattr(runtime, "LoadedModel", never)
    path = mutated(name)
    with pytest.raises(ModelFileError) as err:
        Judge.load(str(path))
    assert str(path) in err.value.message
    assert MUTATIONS[name][2] in err.value.message
    assert err.value.hint and err.value.exit_code == 4


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_llama_cpp_itself_aborts_on_the_mutations(mutated, name):
    proc = subprocess.run([sys.executable, str(HERE / "llama_probe.py"), str(mutated(name))],
                          capture_output=True, timeout=300, check=False)
    outcome = {-signal.SIGABRT: "abort", 3: "refuse", 0: "loads"}.get(proc.returncode, proc.returncode)
    assert outcome == LLAMA_CPP[name], proc.stderr.decode()[-1500:]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen3", "llama", "gemma3"])
def test_llama_cpp_runs_the_base_files(bases, arch):
    proc = subprocess.run([sys.executable, str(HERE / "llama_probe.py"), str(bases[arch])],
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith(b"LOADS"), proc.stderr.decode()[-1500:]


@pytest.mark.parametrize("name", ["duplicate token", "norm retyped F16", "expert_used_count > expert_count"])
def test_the_cli_exits_4_on_a_mutated_file_and_quantize_leaves_nothing(mutated, run_cli, tmp_path, name):
    path = mutated(name)
    result = run_cli("judge", "-m", str(path), "--prompt", "p", "--response", "r")
    assert result.returncode == 4, result.stderr.decode()
    assert MUTATIONS[name][2].encode() in result.stderr and b"llama_model_loader" not in result.stderr
    out = tmp_path / "q.gguf"
    out.write_bytes(b"an earlier output")
    result = run_cli("quantize", str(path), "-o", str(out), "--type", "Q8_0")
    assert result.returncode == 4, result.stderr.decode()
    assert out.read_bytes() == b"an earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.gguf"]  # no .part left behind


# -- numerically broken weights --------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_gguf(checkpoints, tmp_path_factory):
    """The synthetic Qwen3 checkpoint with NaN final-norm weights, converted by edgejudge."""
    from safetensors import safe_open

    from edgejudge.convert import convert

    root = tmp_path_factory.mktemp("nan")
    ckpt = root / "ckpt"
    shutil.copytree(checkpoints["qwen3"], ckpt)
    shard = ckpt / "model.safetensors"
    header_len = int.from_bytes(shard.read_bytes()[:8], "little")
    header = json.loads(shard.read_bytes()[8 : 8 + header_len])
    start, end = header["model.norm.weight"]["data_offsets"]
    with open(shard, "r+b") as handle:
        handle.seek(8 + header_len + start)
        handle.write(np.full((end - start) // 2, 0x7FC0, dtype=np.uint16).tobytes())  # bf16 NaN
    with safe_open(str(shard), framework="numpy") as check:  # still a valid shard, now holding NaNs
        assert check.keys()
    return convert(ckpt, root / "nan.gguf", outtype="f16").path


def test_nan_weights_are_a_model_file_error_not_a_verdict(nan_gguf):
    from edgejudge import Judge
    from edgejudge.items import Item

    with Judge.load(str(nan_gguf)) as judge, pytest.raises(ModelFileError) as err:
        judge.judge(Item(task="pairwise", prompt="2+2?", response_a="4", response_b="5"))
    assert err.value.code == "model_numeric" and "numerically broken" in err.value.message


def test_nan_weights_in_score_are_an_error_record_per_line(nan_gguf, run_cli, tmp_path):
    lines = b"".join(json.dumps({"id": i, "prompt": "q", "response_a": "a", "response_b": "b"}).encode() + b"\n"
                     for i in range(2))
    result = run_cli("score", "-m", str(nan_gguf), "-", input=lines)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 9, result.stderr.decode()
    assert [r["error"]["code"] for r in records] == ["model_numeric", "model_numeric"]


# -- chat templates --------------------------------------------------------------------------

HOSTILE_TEMPLATES = {
    "nested range loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                           "longer than"),
    "loops over a long string": ("{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
                                 "longer than"),
    "exponential macro recursion": (("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}"
                                     "{% endmacro %}{{ f(40) }}"), "longer than"),
    "400 MiB string": ("{{ 'x' * 400000000 }}", "'*' would build"),
    "400 MiB list": ("{{ ([0] * 400000000)|length }}", "'*' would build"),
    "doubling by ~": ("{% set s = 'x' * 1000 %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}", "a variable built"),
    "doubling in a namespace": (("{% set ns = namespace(s='x') %}{% for i in range(60) %}"
                                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}"), "namespace variable"),
    "huge power": ("{{ 2 ** 100000000 }}", "'**'"),
    "huge center": ("{{ 'x'|center(400000000) }}", "center"),
    "huge format width": ("{{ '{:>400000000}'.format(1) }}", "huge width"),
    "huge % width": ("{{ '%400000000d' % 1 }}", "huge width"),
    "replace growth": ("{% set s = 'x' * 1000 %}{{ s|replace('x', s)|replace('x', s) }}", "would build"),
    "output past the cap": ("{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}", "output passed"),
    "infinite recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursed"),
    "division by zero": ("{{ 1/0 }}", "ZeroDivisionError"),
    "syntax error": ("{% for %}", "could not be rendered"),
}


@pytest.fixture
def quick_templates(monkeypatch):
    monkeypatch.setattr(chat, "MAX_SECONDS", 0.3)
    chat._cache.clear()
    yield
    chat._cache.clear()


@pytest.mark.parametrize("name", sorted(HOSTILE_TEMPLATES))
def test_a_hostile_template_is_a_bounded_model_file_error(quick_templates, name):
    template, words = HOSTILE_TEMPLATES[name]
    started = time.perf_counter()
    with pytest.raises(ModelFileError) as err:
        chat.render(template, [{"role": "user", "content": "x"}])
    assert time.perf_counter() - started < 3
    assert words in err.value.message and "chat template" in err.value.message and err.value.hint


def test_the_default_deadline_holds():
    chat._cache.clear()
    started = time.perf_counter()
    with pytest.raises(ModelFileError, match="longer than 2 s"):
        chat.render(HOSTILE_TEMPLATES["nested range loops"][0], [{"role": "user", "content": "y"}])
    assert time.perf_counter() - started < chat.MAX_SECONDS + 1.5


def test_each_distinct_template_and_input_is_rendered_once(quick_templates, monkeypatch):
    calls = []
    real = chat._render_uncached
    monkeypatch.setattr(chat, "_render_uncached", lambda *a: calls.append(a) or real(*a))
    good = "{{ messages[0]['content'] }}!"
    assert chat.render(good, [{"role": "user", "content": "a"}]) == "a!"
    assert chat.render(good, [{"role": "user", "content": "a"}]) == "a!"
    assert chat.render(good, [{"role": "user", "content": "b"}]) == "b!"
    for _ in range(3):
        with pytest.raises(ModelFileError):
            chat.render(HOSTILE_TEMPLATES["nested range loops"][0], [{"role": "user", "content": "a"}])
    assert len(calls) == 3  # a, b, and the hostile one once: its failure is remembered


@pytest.mark.parametrize("tail", ["\ue000prompt\ue001", "\ue000nosuchfield\ue001", "\ue000",
                                  "{{ messages[-1]['content'] }}"])
def test_a_template_cannot_forge_or_repeat_slots(quick_templates, tail):
    chatml = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    assert render.gguf_chat(chatml, "s", "u " + slot("prompt"), "")  # the honest template passes
    with pytest.raises(ModelFileError, match="slot"):
        render.gguf_chat(chatml + tail, "s", "u " + slot("prompt"), "")


@pytest.fixture(scope="module")
def hostile_template_gguf(bases, tmp_path_factory):
    v, _ = _v()
    loop = HOSTILE_TEMPLATES["nested range loops"][0]
    return rewrite(bases["qwen3"], tmp_path_factory.mktemp("tpl") / "hostile-template.gguf",
                   kv={"tokenizer.chat_template": (loop, v.STRING)})


def test_a_hostile_template_ends_prompt_and_score_with_exit_4_and_records(hostile_template_gguf, run_cli):
    started = time.perf_counter()
    result = run_cli("prompt", "-m", str(hostile_template_gguf), "--prompt", "p", "--response", "r")
    assert result.returncode == 4 and b"chat template" in result.stderr, result.stderr.decode()
    lines = b"".join(json.dumps({"id": i, "prompt": "q", "response": "r"}).encode() + b"\n" for i in range(3))
    result = run_cli("score", "-m", str(hostile_template_gguf), "-", input=lines)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 9, result.stderr.decode()
    assert [r["status"] for r in records] == ["error"] * 3
    assert all("chat template" in r["error"]["message"] for r in records)
    assert time.perf_counter() - started < 30  # one 2 s render for the three lines, not three


# -- checkpoints -----------------------------------------------------------------------------

CONFIGS = {
    "num_hidden_layers 1e12": ({"num_hidden_layers": 10**12}, "num_hidden_layers"),
    "num_hidden_layers as a float": ({"num_hidden_layers": 1e12}, "num_hidden_layers"),
    "more layers than the shards hold": ({"num_hidden_layers": 300}, "num_hidden_layers = 300 but the shards hold 2"),
    "rope_theta 'x'": ({"rope_theta": "x"}, "rope_theta"),
    "rms_norm_eps 'x'": ({"rms_norm_eps": "x"}, "rms_norm_eps"),
    "tie_word_embeddings 'yes'": ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
    "rope_scaling a string": ({"rope_scaling": "x"}, "rope_scaling"),
    "rope factor 'x'": ({"rope_scaling": {"rope_type": "yarn", "factor": "x"}}, "rope_scaling.factor"),
    "yarn without its original context": ({"rope_scaling": {"rope_type": "yarn", "factor": 2.0}},
                                          "original_max_position_embeddings"),
    "architectures [[x]]": ({"architectures": [["x"]]}, "architecture"),
    "head_dim 'x'": ({"head_dim": "x"}, "head_dim"),
    "max_position_embeddings 'x'": ({"max_position_embeddings": "x"}, "max_position_embeddings"),
    "vocab_size 2^40": ({"vocab_size": 2**40}, "vocab_size"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_bad_config_value_is_a_conversion_error_naming_the_key(checkpoints, tmp_path, name):
    from edgejudge.convert import convert

    change, words = CONFIGS[name]
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints["qwen3"], ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config.update(change)
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError) as err:
        convert(ckpt, tmp_path / "out.gguf", outtype="f16")
    assert words in err.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_cli_convert_of_a_bad_config_exits_10(checkpoints, run_cli, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints["qwen3"], ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "rope_theta": "x"}))
    result = run_cli("convert", str(ckpt), "-o", str(tmp_path / "out.gguf"), "--outtype", "f16")
    assert result.returncode == 10 and b"rope_theta" in result.stderr, result.stderr.decode()


# -- output paths ----------------------------------------------------------------------------


def _special_paths(tmp_path):
    target = tmp_path / "target.gguf"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.gguf"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.gguf"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    return {"symlink": link, "fifo": fifo, "directory": folder, "device": Path("/dev/null")}


def test_outputs_that_are_not_regular_files_are_refused(tmp_path):
    for kind, path in _special_paths(tmp_path).items():
        with pytest.raises(UsageError) as err:
            outputs.target(path)
        assert str(path) in err.value.message and err.value.hint, kind
    assert (tmp_path / "target.gguf").read_bytes() == b"keep me"


@pytest.mark.parametrize("command", ["convert", "quantize"])
def test_cli_refuses_special_outputs_and_changes_nothing(checkpoints, bases, run_cli, tmp_path, command):
    paths = _special_paths(tmp_path)
    before = {kind: os.lstat(p) for kind, p in paths.items()}
    for kind, path in paths.items():
        if command == "convert":
            result = run_cli("convert", str(checkpoints["qwen3"]), "-o", str(path), "--outtype", "f16", timeout=60)
        else:
            result = run_cli("quantize", str(bases["qwen3"]), "-o", str(path), "--type", "Q8_0", timeout=60)
        assert result.returncode == 2, (kind, result.stderr.decode())
        after = os.lstat(path)
        assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before[kind].st_mode), before[kind].st_ino)
    assert (tmp_path / "target.gguf").read_bytes() == b"keep me"
    assert not list(tmp_path.glob(".*.part"))


def test_outputs_get_the_umask_mode_or_keep_their_own(bases, tmp_path):
    from edgejudge.convert import quantize

    old = os.umask(0o027)
    try:
        fresh = quantize(bases["qwen3"], tmp_path / "fresh.gguf", "Q8_0").path
        existing = tmp_path / "existing.gguf"
        existing.write_bytes(b"old")
        existing.chmod(0o604)
        quantize(bases["qwen3"], existing, "Q8_0")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604
    assert gguf_file.read(existing).quant == "Q8_0"


# -- text inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "words"), [(b"Winner: \xff", b"byte 8"), (b"abc\0def", b"NUL byte at byte 3"),
                                             (b"\x89PNG\r\n\x1a\n\0\0", b"byte 0")])
def test_parse_of_a_binary_or_non_utf8_file_exits_5(run_cli, tmp_path, data, words):
    path = tmp_path / "output.txt"
    path.write_bytes(data)
    result = run_cli("parse", "--family", "mr3", str(path))
    assert result.returncode == 5 and words in result.stderr and str(path).encode() in result.stderr
    with pytest.raises(InputError):
        files.decode_text(data, "x")
