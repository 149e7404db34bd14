"""`edgejudge models` answers "can my machine run this?": the registry's shapes agree with real
files, the size estimates with real quantizations, and the table says what it shows."""

import json
from dataclasses import replace
from types import MappingProxyType

import pytest
from click.testing import CliRunner

from edgejudge.cli import cli
from edgejudge.store import gguf_file, registry, sizing
from edgejudge.store.registry import ModelFile, Shape


def tensor_elements(path) -> int:
    from gguf import GGUFReader

    return sum(int(t.n_elements) for t in GGUFReader(path).tensors)


@pytest.mark.model
def test_the_registered_shape_is_the_real_files(smollm2_path):
    shape = registry.load().get("smollm2-135m").shape
    info = gguf_file.read(smollm2_path)
    assert shape.layers == info.get("llama.block_count")
    assert shape.kv_heads == info.get("llama.attention.head_count_kv")
    assert shape.head_dim == info.get("llama.embedding_length") // info.get("llama.attention.head_count")
    assert shape.parameters == tensor_elements(smollm2_path)


@pytest.mark.parametrize("quant", ["Q8_0", "Q6_K", "Q4_K_M", "Q2_K"])
def test_estimated_file_sizes_are_close_to_real_quantizations(qwen3_gguf, tmp_path, quant):
    from edgejudge.convert import quantize

    base = qwen3_gguf["bf16"]
    real = quantize(base, tmp_path / f"{quant}.gguf", quant).path.stat().st_size
    spec = replace(registry.load().get("mr3-qwen3-4b"),
                   shape=Shape(parameters=tensor_elements(base), layers=2, kv_heads=2, head_dim=64),
                   files=MappingProxyType({quant: ModelFile(filename="x.gguf", source="convert")}),
                   default_quant=quant)
    estimate, exact = sizing.file_bytes(spec, quant)
    assert not exact
    assert abs(estimate - real) / real < 0.15, (estimate, real)


def test_kv_cache_and_context():
    spec = registry.load().get("mr3-qwen3-4b")
    assert sizing.typical_context(spec) == sizing.ITEM_TOKENS + spec.think_budget
    assert sizing.kv_cache_bytes(spec, 1000) == 36 * 1000 * 8 * 128 * 2 * 2
    small = registry.load().get("smollm2-135m")
    assert sizing.typical_context(replace(small, context_length=2048)) == 2048


@pytest.mark.model
def test_kv_cache_formula_is_what_llama_cpp_allocates(run_cli, smollm2_path):
    import re

    proc = run_cli("judge", "-v", "--prompt", "2+2?", "--response-a", "4", "--response-b", "5", "--no-explain")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    n_ctx = json.loads(proc.stdout)["timings"]["n_ctx"]
    reported = re.search(r"KV buffer size =\s*([0-9.]+) MiB", proc.stderr.decode())
    expected = sizing.kv_cache_bytes(registry.load().get("smollm2-135m"), n_ctx)
    assert float(reported.group(1)) == pytest.approx(expected / 2**20, abs=0.01)


def test_fits_against_this_machine():
    memory = sizing.machine_memory()
    assert memory["total"] is not None and memory["total"] > 2**28  # Linux has sysconf
    assert sizing.fits(memory["total"] + 1, memory) is False and sizing.fits(1, memory) is True
    assert sizing.fits(None, memory) is None and sizing.fits(1, {"total": None}) is None


@pytest.mark.model
def test_models_table_and_detail(smollm2_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "this machine:" in text and "≈ marks an estimate" in text
    mr3 = text.splitlines()[text.splitlines().index(next(line for line in text.splitlines()
                                                          if line.startswith("mr3-qwen3-4b"))) + 1]
    assert "download ≈" in mr3 and "Q4_K_M: file ≈" in mr3 and "at 12,288 tokens" in mr3
    assert "Q4_1: file 93.8 MiB" in text  # exact: the registry pins SmolLM2's size
    detail = runner.invoke(cli, ["models", "rm-r1-14b"]).output
    assert [line.split()[0] for line in detail.splitlines()[4:11]] == list(registry.load().get("rm-r1-14b").files)
    assert runner.invoke(cli, ["models", "no-such-judge"]).exit_code == 3
    rows = [json.loads(line) for line in runner.invoke(cli, ["models", "--json"]).stdout.splitlines()]
    smol = next(r for r in rows if r["id"] == "smollm2-135m")
    entry = smol["sizes"]["Q4_1"]
    assert entry["exact"] and entry["installed"] and entry["file_bytes"] == smollm2_path.stat().st_size
    assert entry["memory_bytes"] == entry["file_bytes"] + smol["kv_cache_bytes"]
