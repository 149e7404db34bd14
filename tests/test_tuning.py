"""Tuned runtime settings: keys, the stored choice, overrides, and AMX's repacking never tried."""

import json
from types import SimpleNamespace

import orjson
import pytest

from edgejudge.backends.llama import hardware, runtime, tuning, tuning_notes
from edgejudge.store import resolve

TINY = tuning.Plan(prompt_tokens=8, decode_tokens=2, reps=1)
pytestmark = pytest.mark.model

AMX_FLAGS = frozenset({"avx512f", "amx_tile", "amx_int8"})


def _info(**changes):
    base = dict(llama_cpp_python="0.3.36", llama_cpp="b1", system_info="CPU : AVX2 = 1 |", threads=2,
                threads_reason="", gpu_offload=False, gpu_layers=0, extra_bufts=True, extra_bufts_reason="",
                flash_attn="auto")
    return runtime.RuntimeInfo(**{**base, **changes})


def test_the_key_changes_with_cpu_build_quant_and_architecture(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
    gguf = SimpleNamespace(quant="Q4_K_M", architecture="qwen3")
    base = tuning.key_id(tuning.key_for(gguf, _info(), cpu="EPYC"))
    assert base == tuning.key_id(tuning.key_for(gguf, _info(), cpu="EPYC"))
    changed = {
        tuning.key_id(tuning.key_for(gguf, _info(), cpu="Xeon")),
        tuning.key_id(tuning.key_for(gguf, _info(llama_cpp="b2"), cpu="EPYC")),
        tuning.key_id(tuning.key_for(gguf, _info(system_info="CPU : AVX512 = 1 |"), cpu="EPYC")),
        tuning.key_id(tuning.key_for(SimpleNamespace(quant="Q4_0", architecture="qwen3"), _info(), cpu="EPYC")),
        tuning.key_id(tuning.key_for(SimpleNamespace(quant="Q4_K_M", architecture="qwen2"), _info(), cpu="EPYC")),
    }
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    changed.add(tuning.key_id(tuning.key_for(gguf, _info(), cpu="EPYC")))
    assert base not in changed and len(changed) == 6


def test_the_choice_weighs_prompt_and_decode_by_workload():
    fast_prompt = {"settings": {"extra_bufts": False}, "prompt_tps": 59.0, "decode_tps": 10.9}
    fast_decode = {"settings": {"extra_bufts": True}, "prompt_tps": 37.0, "decode_tps": 12.3}
    chosen = tuning.choose([fast_prompt, fast_decode])
    assert chosen == {"no_think": {"extra_bufts": False}, "think": {"extra_bufts": True}}


def test_amx_machines_never_try_weight_repacking(monkeypatch, smollm2_path):
    lib = runtime.llama()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: AMX_FLAGS)
    monkeypatch.setattr(lib, "llama_print_system_info", lambda: b"CPU : AVX512 = 1 | AMX_INT8 = 1 |")
    base = runtime.resolve(runtime.RuntimeSettings())
    assert all(c["extra_bufts"] is False for c in tuning.candidates(base, tuning.QUICK))
    resolved = resolve.resolve(str(smollm2_path))
    record = tuning.tune(resolved.path, resolved.gguf, tuning.Plan(8, 2, 1, full=True), base=base)
    assert record["figures"] and all(f["settings"]["extra_bufts"] is False for f in record["figures"])
    # even a stored choice that says "on" cannot switch it on here
    tuned = {"settings": {"extra_bufts": True, "flash_attn": "on"}}
    info = runtime.resolve(runtime.RuntimeSettings(), tuned)
    assert info.extra_bufts is False and info.flash_attn == "on"


def test_a_tiny_measurement_on_smollm2_stores_a_choice(smollm2_path, tmp_path, monkeypatch):
    # A home of its own: a choice stored in the session's home would be applied to every judge the
    # later tests load there (a stored choice applies with tuning off), in whatever order they run.
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path))
    resolved = resolve.resolve(str(smollm2_path))
    base = runtime.resolve(runtime.RuntimeSettings())
    first = [{"extra_bufts": False, "flash_attn": f, "threads": 1, "n_batch": 512, "n_ubatch": 512} for f in ("off", "on")]
    record = tuning.tune(resolved.path, resolved.gguf, TINY, base=base, first=first)
    assert [f["settings"] for f in record["figures"]] == first
    assert all(f["prompt_tps"] > 0 and f["decode_tps"] > 0 for f in record["figures"])
    assert set(record["choice"]) == {"no_think", "think"} and record["choice"]["think"] in first
    tuning.store(record)
    assert tuning.lookup(tuning.key_for(resolved.gguf, base)) == json.loads(json.dumps(record))


@pytest.fixture
def tuned_store(tmp_path, monkeypatch, smollm2_path):
    """A store whose tuning record for SmolLM2 chose settings no default would."""
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path))
    resolved = resolve.resolve(str(smollm2_path))
    base = runtime.resolve(runtime.RuntimeSettings())
    chosen = {"extra_bufts": False, "flash_attn": "off", "threads": 1, "n_batch": 256, "n_ubatch": 128}
    tuning.store({"key": tuning.key_for(resolved.gguf, base), "mode": "quick", "measured_at": 0.0,
                  "figures": [{"settings": chosen, "prompt_tps": 100.0, "decode_tps": 50.0}],
                  "choice": {"no_think": chosen, "think": chosen}})
    return resolved


def test_the_stored_choice_is_used_and_flags_and_env_override_it(tuned_store, monkeypatch):
    def no_measuring(*args, **kwargs):
        raise AssertionError("a stored key must not be measured again")

    monkeypatch.setattr(tuning, "tune", no_measuring)
    settings = runtime.RuntimeSettings.from_env()
    info = runtime.resolve(settings, tuning.choice_for(tuned_store, settings, "no_think"))
    # flash attention is never taken from a record: it changes probabilities (docs/speed.md)
    assert (info.extra_bufts, info.flash_attn, info.threads, info.n_batch, info.n_ubatch) == (False, "auto", 1, 256, 128)
    monkeypatch.setenv("EDGEJUDGE_FLASH_ATTN", "on")
    settings = runtime.RuntimeSettings.from_env(threads=2, n_ubatch=64)
    info = runtime.resolve(settings, tuning.choice_for(tuned_store, settings, "no_think"))
    assert (info.flash_attn, info.threads, info.n_batch, info.n_ubatch) == ("on", 2, 256, 64)


def test_first_use_tunes_once_with_a_line_on_stderr_unless_switched_off(tmp_path, monkeypatch, smollm2_path, run_cli):
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path))
    monkeypatch.setattr(tuning, "QUICK", TINY)
    resolved = resolve.resolve(str(smollm2_path))
    assert tuning.choice_for(resolved, runtime.RuntimeSettings(tune=False), "no_think") is None
    assert not (tmp_path / "tuning.json").exists()
    monkeypatch.setenv("EDGEJUDGE_TUNE", "0")
    assert tuning.choice_for(resolved, runtime.RuntimeSettings.from_env(), "no_think") is None
    item = orjson.dumps({"prompt": "2+2?", "response_a": "4", "response_b": "5"}).decode()
    env = {"EDGEJUDGE_HOME": str(tmp_path), "EDGEJUDGE_TUNE": "1"}
    # the subprocess runs the real quick plan once (a few seconds on SmolLM2) ...
    first = run_cli("judge", "-m", str(smollm2_path), "--no-explain", "--no-prefix-cache", "--json", item, env=env)
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    assert first.stderr.decode().count("tuning llama.cpp settings") == 1
    assert orjson.loads(first.stdout)["provenance"]["runtime"]["tuned"] is True
    # ... and never again for the same key; doctor shows the choice and its figures
    second = run_cli("judge", "-m", str(smollm2_path), "--no-explain", "--no-prefix-cache", "--json", item, env=env)
    assert second.returncode == 0 and b"tuning" not in second.stderr
    doctor = orjson.loads(run_cli("doctor", "--json", "-m", str(smollm2_path), env=env).stdout)
    assert doctor["tuning"]["mode"] == "quick" and len(doctor["tuning"]["figures"]) >= 2
    text = run_cli("doctor", "-m", str(smollm2_path), env=env).stdout.decode()
    assert "no_think: repacking" in text and "prompt t/s" in text


def test_tune_command_prints_the_record(tmp_path, smollm2_path, run_cli):
    env = {"EDGEJUDGE_HOME": str(tmp_path), "EDGEJUDGE_THREADS": "1"}
    done = run_cli("tune", "-m", str(smollm2_path), "--quick", "--prompt-tokens", "8", "--decode-tokens", "2",
                   "--reps", "1", env=env)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    record = orjson.loads(done.stdout)
    assert record["mode"] == "quick" and record["plan"]["prompt_tokens"] == 8
    assert "chosen for" in done.stderr.decode() and "no_think" in done.stderr.decode()
    # piped, stderr still says each candidate as it is measured (stdout is the record alone)
    lines = [line for line in done.stderr.decode().splitlines() if line.startswith("edgejudge: candidate ")]
    assert len(lines) == len(record["figures"]) and "prompt t/s" in lines[0]
    assert json.loads((tmp_path / "tuning.json").read_text())[tuning.key_id(record["key"])]["choice"] == record["choice"]


PROBABILITY_TOLERANCE = 1e-6  # verdicts round probabilities to 6 decimals; measured: equal to all of them


def test_what_tuning_may_choose_never_changes_a_probability(smollm2_path):
    """The decision in docs/speed.md ("Tuning and probabilities"): every setting the quick and the
    full tuning may choose gives the same label probabilities, so a choice that depends on the
    machine's load cannot move a verdict. (Flash attention, which does change them, is not tuned.)"""
    from edgejudge import Judge
    from edgejudge.formats import JudgeOptions

    base = runtime.resolve(runtime.RuntimeSettings())
    first = tuning.candidates(base, tuning.FULL)
    assert all("flash_attn" not in c for c in first)
    variants = [{**c, "threads": 1, "n_ubatch": u} for c in first for u in (512, 256, 128)]
    variants.append({**first[0], "threads": min(2, hardware.usable_threads())})
    items = [{"prompt": "What is 2+2?", "response_a": "4", "response_b": "5"},
             {"prompt": "Is the earth flat?", "response": "No, it is roughly a sphere.", "scale": "1-5"}]
    seen = []
    for variant in variants:
        judge = Judge.load(str(smollm2_path), settings=runtime.RuntimeSettings(tune=False, prefix_cache=False, **variant),
                           calibration=False)
        try:
            assert judge.info.flash_attn == "auto"
            chosen = items if variant["threads"] == 1 else items[:1]  # more threads than idle CPUs is slow here
            seen.append((variant, [judge.judge(item, JudgeOptions(explain=False)).probabilities for item in chosen]))
        finally:
            judge.close()
    reference = seen[0][1]
    for variant, probabilities in seen[1:]:
        for got, expected in zip(probabilities, reference):
            assert got.keys() == expected.keys()
            assert max(abs(got[k] - expected[k]) for k in got) <= PROBABILITY_TOLERANCE, variant


def test_first_use_says_how_long_tuning_took_last_time(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path))
    assert tuning_notes.expected_duration(tuning.records()) == tuning_notes.FIRST_USE_RANGE  # nothing measured here yet
    (tmp_path / "tuning.json").write_text("[not a dict")
    assert tuning_notes.expected_duration(tuning.records()) == tuning_notes.FIRST_USE_RANGE  # unreadable: the honest range
    good = {"mode": "quick", "seconds": 12.3, "measured_at": 2000.0, "key": {"architecture": "llama", "quant": "Q4_1"}}
    junk = [{"mode": "quick", "seconds": "fast", "measured_at": 3000.0}, {"mode": "quick", "seconds": True,
            "measured_at": 3000.0}, {"mode": "quick", "seconds": 1e300, "measured_at": 3000.0}, [], "x",
            {"mode": "full", "seconds": 99.0, "measured_at": 4000.0}]
    older = {**good, "seconds": 50.0, "measured_at": 1000.0}
    records = {"a": good, "b": older, **{f"j{i}": j for i, j in enumerate(junk)}}
    (tmp_path / "tuning.json").write_text(json.dumps(records))
    assert tuning_notes.expected_duration(tuning.records()) == "it took 12 s last time on this machine (llama Q4_1)"
