"""Hostile state files, variables and flags, end to end: real `python -m edgejudge` processes on
SmolLM2, each with a timeout so that a hang fails the test instead of blocking the run.

tests/test_state_files.py sweeps every field as library calls; these are the cases that were
reproduced as a user would meet them (a SIGSEGV, hangs, exit 1, files deleted outside the store).
"""

from __future__ import annotations

import json
import os
import time

import orjson
import pytest

from edgejudge.backends.llama import runtime, tuning
from edgejudge.store import resolve

pytestmark = [pytest.mark.hostile, pytest.mark.model]

ITEM = orjson.dumps({"prompt": "What is 2+2?", "response_a": "4", "response_b": "5"}).decode()
LIMIT = 120  # seconds: far more than any of these runs needs, far less than a hang


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def env_for(home, **more):
    return {"EDGEJUDGE_HOME": str(home), "EDGEJUDGE_TUNE": "0", **more}


def judge(run_cli, smollm2_path, home, *extra, **env):
    return run_cli("judge", "-m", str(smollm2_path), "--no-explain", "--threads", "1", "--json", ITEM, *extra,
                   env=env_for(home, **env), timeout=LIMIT)


def tuning_record(smollm2_path, **choice) -> tuple[str, dict]:
    resolved = resolve.resolve(str(smollm2_path))
    key = tuning.key_for(resolved.gguf, runtime.resolve(runtime.RuntimeSettings()))
    chosen = {"extra_bufts": False, "flash_attn": "off", "threads": 1, "n_batch": 512, "n_ubatch": 512, **choice}
    return tuning.key_id(key), {"key": key, "mode": "quick", "measured_at": 1.0, "choice": {"no_think": chosen,
                                "think": chosen}, "figures": [{"settings": chosen, "prompt_tps": 9.0, "decode_tps": 9.0}]}


@pytest.mark.parametrize("choice", [{"n_batch": -5}, {"threads": 10000}])  # the rest: test_state_files.py
def test_a_hostile_tuning_record_is_ignored_with_one_line(run_cli, smollm2_path, home, choice):
    key_id, record = tuning_record(smollm2_path, **choice)
    (home / "tuning.json").write_text(json.dumps({key_id: record}))
    # no --threads here: the stored threads would be used if they were trusted
    done = run_cli("judge", "-m", str(smollm2_path), "--no-explain", "--json", ITEM, env=env_for(home), timeout=LIMIT)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    stderr = done.stderr.decode()
    assert stderr.count("ignoring") == 1 and "tuning.json" in stderr and "default settings" in stderr
    used = orjson.loads(done.stdout)["provenance"]["runtime"]
    assert used["tuned"] is False


def test_garbage_figures_do_not_break_doctor(run_cli, smollm2_path, home):
    key_id, record = tuning_record(smollm2_path)
    record["figures"] = [{"settings": "fast", "prompt_tps": "many"}]
    (home / "tuning.json").write_text(json.dumps({key_id: record}))
    done = run_cli("doctor", "-m", str(smollm2_path), env=env_for(home), timeout=LIMIT)
    assert done.returncode == 0 and "not measured yet" in done.stdout.decode(), done.stderr.decode()[-2000:]
    assert "figures" in done.stderr.decode()


def test_a_bad_record_is_measured_again_and_replaced(smollm2_path, home, monkeypatch, caplog):
    # in this process, with a tiny measurement: the subprocess's quick plan is minutes on a loaded machine
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    monkeypatch.setattr(tuning, "QUICK", tuning.Plan(prompt_tokens=8, decode_tokens=2, reps=1))
    key_id, record = tuning_record(smollm2_path, n_batch=-5)
    (home / "tuning.json").write_text(json.dumps({key_id: record}))
    resolved = resolve.resolve(str(smollm2_path))
    with caplog.at_level("INFO", logger="edgejudge"):
        chosen = tuning.choice_for(resolved, runtime.RuntimeSettings(tune=True, threads=1), "no_think")
    lines = [r.getMessage() for r in caplog.records]
    assert any("measured again" in line and "tuning.json" in line for line in lines), lines
    assert chosen is not None and chosen["settings"]["n_batch"] >= 1
    stored = json.loads((home / "tuning.json").read_text())[key_id]
    assert tuning.record_shape()(stored)["choice"]["no_think"]["n_batch"] >= 1


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "deep"])
def test_a_tuning_file_that_is_a_fifo_a_device_or_too_deep(run_cli, smollm2_path, home, kind):
    path = home / "tuning.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_text("[" * 200_000 + "]" * 200_000)
    # a judge for the FIFO (the hang that was reported), doctor (no model load) for the others
    command = ("judge", "--no-explain", "--json", ITEM, "--no-prefix-cache") if kind == "fifo" else ("doctor",)
    done = run_cli(*command, "-m", str(smollm2_path), env=env_for(home), timeout=LIMIT)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stderr.decode().count("ignoring") == 1


def test_a_fifo_in_the_prefix_cache_hangs_neither_judge_nor_doctor(run_cli, smollm2_path, home):
    (home / "prefix-cache").mkdir()
    os.mkfifo(home / "prefix-cache" / "stuck.kv")
    first, second = judge(run_cli, smollm2_path, home), judge(run_cli, smollm2_path, home)
    assert first.returncode == 0 and second.returncode == 0, second.stderr.decode()[-2000:]
    assert orjson.loads(second.stdout)["timings"]["prefix_cache"] == "hit"
    doctor = run_cli("doctor", "--json", "-m", str(smollm2_path), env=env_for(home), timeout=LIMIT)
    assert doctor.returncode == 0 and orjson.loads(doctor.stdout)["prefix_cache"]["files"] == 1


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "nan"])
def test_a_cache_size_that_is_no_finite_number_is_a_usage_error(run_cli, smollm2_path, home, value):
    if value == "inf":
        done = judge(run_cli, smollm2_path, home, EDGEJUDGE_PREFIX_CACHE_MB=value)
    else:  # the same check, without loading the model
        done = run_cli("doctor", "-m", str(smollm2_path), env=env_for(home, EDGEJUDGE_PREFIX_CACHE_MB=value),
                       timeout=LIMIT)
    assert done.returncode == 2 and "EDGEJUDGE_PREFIX_CACHE_MB" in done.stderr.decode(), done.stderr.decode()


def test_cache_clear_deletes_nothing_through_a_linked_folder(run_cli, home, tmp_path):
    elsewhere = tmp_path / "papers"
    elsewhere.mkdir()
    (elsewhere / "thesis.kv").write_bytes(b"years of work")
    (home / "prefix-cache").symlink_to(elsewhere)
    for command in (("cache", "clear"), ("cache", "ls")):
        done = run_cli(*command, env=env_for(home), timeout=LIMIT)
        assert done.returncode == 15 and "symbolic link" in done.stderr.decode(), done.stderr.decode()
    assert (elsewhere / "thesis.kv").read_bytes() == b"years of work"


@pytest.mark.parametrize("dangling", [False, True])
def test_an_output_lock_that_is_a_link_is_refused_and_its_target_untouched(run_cli, smollm2_path, home, tmp_path,
                                                                           dangling):
    source = tmp_path / "in.jsonl"
    source.write_text(ITEM + "\n")
    mine = tmp_path / "thesis.txt"
    if not dangling:
        mine.write_text("my thesis")
    (tmp_path / "out.jsonl.lock").symlink_to(mine)
    done = run_cli("score", str(source), "-o", str(tmp_path / "out.jsonl"), "-m", str(smollm2_path),
                   env=env_for(home), timeout=LIMIT)
    assert done.returncode == 14 and "symbolic link" in done.stderr.decode(), done.stderr.decode()
    assert (mine.read_text() == "my thesis") if not dangling else not mine.exists()


def test_tune_sizes_beyond_the_context_are_refused_before_any_work(run_cli, smollm2_path, home):
    started = time.monotonic()
    done = run_cli("tune", "-m", str(smollm2_path), "--quick", "--prompt-tokens", "200000", env=env_for(home),
                   timeout=LIMIT)
    assert done.returncode == 6 and "--prompt-tokens" in done.stderr.decode(), done.stderr.decode()
    assert time.monotonic() - started < 60
    assert run_cli("tune", "-m", str(smollm2_path), "--reps", "1000000", env=env_for(home), timeout=LIMIT).returncode == 2


@pytest.mark.parametrize("ref", ["~0/", "~nosuchuser/model.gguf"])
def test_a_tilde_that_names_no_user_is_a_usage_error(run_cli, home, ref):
    done = run_cli("judge", "-m", ref, "--json", ITEM, env=env_for(home), timeout=LIMIT)
    assert done.returncode == 2 and "no user" in done.stderr.decode(), done.stderr.decode()
    done = run_cli("doctor", env=env_for(home, EDGEJUDGE_HOME="~nosuchuser/store"), timeout=LIMIT)
    assert done.returncode == 2 and "EDGEJUDGE_HOME" in done.stderr.decode(), done.stderr.decode()
