"""benchmarks/twins.py and benchmarks/bench_llama_raw.py on a narrow twin (the real vocabulary and
layout, tiny widths), so the benchmark tools stay working between the runs that use them."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import realvocab

from edgejudge.backends.llama import runtime
from edgejudge.store import gguf_file

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import twins  # noqa: E402


@pytest.fixture(scope="module")
def tiny_twin(tmp_path_factory):
    out = tmp_path_factory.mktemp("twins")
    twin = replace(twins.TWINS["qwen3-4b"], name="tiny", hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16,
                   ffn=128)
    manifest = twins.build(twin, out, quants=("Q4_0",))
    return out, twin, manifest


def test_twin_is_built_once_and_cleaned_up(tiny_twin):
    out, twin, manifest = tiny_twin
    folder = out / "tiny"
    quantized = folder / manifest["files"]["Q4_0"]["file"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "tiny-Q4_0.gguf"]
    assert manifest["files"]["BF16"]["deleted"] is True
    stamp = quantized.stat().st_mtime_ns
    again = twins.build(twin, out, quants=("Q4_0",))
    assert again == manifest and quantized.stat().st_mtime_ns == stamp  # cached, not rebuilt


def test_twin_has_the_real_layout_and_vocabulary(tiny_twin):
    out, _, manifest = tiny_twin
    path = out / "tiny" / manifest["files"]["Q4_0"]["file"]
    info = gguf_file.read(path)
    assert info.architecture == "qwen3" and info.get("qwen3.block_count") == 2
    assert info.get("qwen3.context_length") == 40960 and info.get("qwen3.rope.freq_base") == 1e6
    assert info.get("edgejudge.family") == "mr3"
    assert "output.weight" not in {t.name for t in info.tensors}  # tied, as Qwen3-4B
    model = runtime.LoadedModel(path, runtime.resolve(runtime.RuntimeSettings(threads=1)))
    try:
        assert model.n_vocab == realvocab.QWEN3_VOCAB_SIZE
        assert model.tokenize("<think>Assistant A") == [151667, 71703, 362]
    finally:
        model.close()


def test_raw_rates_of_a_twin(tiny_twin):
    out, _, manifest = tiny_twin
    path = out / "tiny" / manifest["files"]["Q4_0"]["file"]
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_llama_raw.py"), str(path), "--pp", "40",
                           "--tg", "4", "--reps", "2", "--threads", "1", "--repack", "off", "--batch", "16:8",
                           "--json"], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n_batch"] == 16 and result["n_ubatch"] == 8 and result["repack"] is False
    assert len(result["pp_tps"]) == 2 and all(rate > 0 for rate in result["pp_tps"] + result["tg_tps"])
    assert result["desc"].startswith("qwen3") and result["size_bytes"] > 0
    assert len(result["pp_cpu_share"]) == 2 and all(0 < share <= 1.5 for share in result["tg_cpu_share"])
