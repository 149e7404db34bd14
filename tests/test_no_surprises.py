"""Nothing silent in the first hour: a calibrated verdict says so in every entry point (and once on
a terminal), the demo never uses a user's calibration, ``calibrate`` says where its fit went and
manages the stored ones, the API's numbers are the JSON's, and one model id is one file."""

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from edgejudge.formats import JudgeOptions
from edgejudge.items import make_item
from edgejudge.trust import calibration, store

pytestmark = pytest.mark.model

ITEM = {"id": "q", "prompt": "What is 2+2?", "response_a": "5", "response_b": "4"}
PLAIN = JudgeOptions(explain=False)
FIT = calibration.Fit(2.0, {"A": -0.75, "B": 0.75})  # flattens, and leans to B: visible in every record


def one_thread(monkeypatch):
    """One llama.cpp thread in this process and the subprocesses: on a shared CI machine two
    spinning threads run these tiny prompts several times slower; every number compared here is
    made with the same setting."""
    monkeypatch.setenv("EDGEJUDGE_THREADS", "1")


def store_fit(judge, fit=FIT, n=40) -> dict:
    """A calibration for the default key (pairwise, thinking off, swap off, no explanation)."""
    item = make_item(ITEM)
    key = store.key_for(judge, item, PLAIN)
    record = store.make_record(key, judge.format.template_sha256(), store.settings_for(judge, item, PLAIN), fit,
                               n=n, labels=["A", "B"], held_out={}, calibration_set=[[0.6, True, f"c{i}", f"c{i}"] for i in range(n)])
    store.save(key, record)
    return record


def cli(*args, home, input=None):
    env = {**os.environ, "EDGEJUDGE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "edgejudge", *args], input=input, capture_output=True, env=env,
                          timeout=300)


def on_a_terminal(*args, home) -> tuple[int, bytes, str]:
    """Run with stderr on a pseudo-terminal (stdout piped): exit code, stdout, what the terminal showed."""
    leader, follower = pty.openpty()
    env = {**os.environ, "EDGEJUDGE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "edgejudge", *args], stdout=subprocess.PIPE, stderr=follower,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    out = proc.stdout.read()
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, out, shown.decode("utf-8", "replace")


def test_a_calibrated_verdict_says_so_in_every_entry_point(smollm2_judge, tmp_path, monkeypatch):
    from edgejudge import Judge

    home = tmp_path / "home"
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    one_thread(monkeypatch)
    record = store_fit(smollm2_judge)

    with Judge.load("smollm2-135m", prefix_cache=False) as judge:
        verdict = judge.judge(ITEM, PLAIN)
        many = list(judge.score_many([ITEM], PLAIN))
    # the API: real fields of the Verdict, rounded as the JSON is
    assert verdict.calibration["id"] == record["id"] and verdict.calibration["n"] == 40
    assert verdict.calibration["parameters"] == FIT.describe() == {"method": "temperature+bias", "temperature": 2.0,
                                                                  "biases": {"A": -0.75, "B": 0.75}}
    assert verdict.calibration["fitted_at"] == record["fitted_at"] and "pairwise" in verdict.calibration["key"]
    assert "raw_probabilities" not in verdict.extra
    expected = calibration.apply(verdict.raw_probabilities, FIT)
    assert verdict.probabilities == pytest.approx(expected, abs=1e-6)
    as_json = verdict.to_dict()
    assert verdict.probabilities == as_json["probabilities"] and verdict.raw_probabilities == as_json["raw_probabilities"]
    for probabilities in (verdict.probabilities, verdict.raw_probabilities):
        assert round(sum(probabilities.values()), 9) == 1.0
        assert all(round(p, 6) == p for p in probabilities.values())
    assert as_json["calibration"] == verdict.calibration and as_json["provenance"]["calibration"] == record["id"]

    # the CLI (judge, piped), serve, score (stderr on a terminal) and score_many: the same fields
    # and the same numbers
    flags = ["--no-prefix-cache", "--no-explain"]
    judged = cli("judge", "--json", orjson.dumps(ITEM).decode(), *flags, home=home)
    assert judged.returncode == 0, judged.stderr.decode()
    assert b"applies to" not in judged.stderr  # piped: the record says it, stderr does not
    served = cli("serve", "--stdio", *flags, home=home, input=orjson.dumps(ITEM) + b"\n")
    assert served.returncode == 0, served.stderr.decode()
    # on a terminal, stderr says once which calibration applies and how to turn it off
    code, out, shown = on_a_terminal("score", *flags, str(_two_items(tmp_path)), home=home)
    assert code == 0, shown
    assert shown.count(f"calibration {record['id']} applies to") == 1
    assert "--no-calibration turns it off" in shown and f"calibrate --remove {record['id']}" in shown
    scored = [orjson.loads(line) for line in out.splitlines()]
    assert len(scored) == 2
    for r in (orjson.loads(judged.stdout), orjson.loads(served.stdout), scored[0], many[0]):
        assert r["calibration"] == verdict.calibration
        assert r["raw_probabilities"] == verdict.raw_probabilities
        assert r["probabilities"] == verdict.probabilities  # one set of numbers, to the last digit


def _two_items(tmp_path):
    path = tmp_path / "two.jsonl"
    path.write_bytes(orjson.dumps(ITEM) + b"\n" + orjson.dumps({**ITEM, "id": "r"}) + b"\n")
    return path


def test_the_demo_never_uses_a_calibration(tmp_path, monkeypatch, smollm2_path):
    from edgejudge import Judge
    from edgejudge.judging import samples

    home = tmp_path / "home"
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    one_thread(monkeypatch)
    with Judge.load("smollm2-135m") as judge:
        before = samples.run_demo(judge)  # nothing stored yet in this home
        store_fit(judge, calibration.Fit(1.0, {"A": -15.0, "B": 15.0}))  # would turn every verdict to B
        assert judge.judge(ITEM, PLAIN).verdict == "B"  # as judge, score and serve now do
    after = cli("demo", "--json", home=home)
    assert after.returncode == 0, after.stderr.decode()
    records = [orjson.loads(line) for line in after.stdout.splitlines()]
    assert len(records) == len(before.records) >= 4
    assert all("calibration" not in r and "raw_probabilities" not in r for r in records)
    assert [r["verdict"] for r in records] == [r["verdict"] for r in before.records]
    matched = re.search(rb"(\d+) of (\d+) verdicts match", after.stderr).groups()
    assert matched == (str(before.matches).encode(), str(len(records)).encode())  # "2 of 4" unchanged


def run(*args):
    """The CLI in this process (commands that load no model, or load it once)."""
    from click.testing import CliRunner

    from edgejudge.cli import cli as group

    result = CliRunner().invoke(group, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout.encode(), result.stderr.encode())


def test_calibrate_says_where_the_fit_went_and_lists_and_removes_fits(smollm2_judge, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    golds, verdicts = [], []
    for i in range(12):  # verdict records as `score` writes them, made for this model and template
        right = "A" if i % 2 else "B"
        golds.append({"id": i, "prompt": f"{i}+{i}?", "response_a": "x", "response_b": "y", "label": right})
        p = 0.7 if i % 3 else 0.4
        verdicts.append({"id": i, "status": "ok", "verdict": "A" if p > 0.5 else "B",
                         "probabilities": {"A": p, "B": round(1 - p, 6)}, "model": smollm2_judge.resolved.describe(),
                         "provenance": {"template_sha256": smollm2_judge.format.template_sha256()}})
    gold_file, verdict_file = tmp_path / "gold.jsonl", tmp_path / "v.jsonl"
    gold_file.write_bytes(b"".join(orjson.dumps(g) + b"\n" for g in golds))
    verdict_file.write_bytes(b"".join(orjson.dumps(v) + b"\n" for v in verdicts))

    done = run("calibrate", str(gold_file), "--verdicts", str(verdict_file), "--folds", "3")
    assert done.returncode == 0, done.stderr.decode()
    [entry] = orjson.loads(done.stdout)["calibrations"]
    said = " ".join(done.stderr.decode().split())
    assert f"stored as calibration {entry['id']} in {entry['path']}" in said
    assert "judge, score, serve and eval" in said and "not to demo" in said and "--no-calibration" in said

    listed = run("calibrate", "--list")
    [shown] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert shown["id"] == entry["id"] and shown["path"] == entry["path"] and shown["n"] == 12
    assert set(shown["parameters"]) == {"method", "temperature", "biases"} and shown["fitted_at"].endswith("Z")
    assert shown["model"] == "smollm2-135m:Q4_1" and shown["task"] == "pairwise" and shown["think"] is False
    from edgejudge.trust import fits

    table = fits.text(fits.listing())  # what a terminal shows
    assert entry["id"] in table and "pairwise, think off, swap off" in table and "biases" in table

    (Path(entry["path"]).parent / "broken.json").write_text("{not json")
    listed = [orjson.loads(line) for line in run("calibrate", "--list").stdout.splitlines()]
    assert len(listed) == 2 and sum("problem" in e for e in listed) == 1  # listed, not a crash

    missing = run("calibrate", "--remove", "000000000000")
    assert missing.returncode == 2 and b"calibrate --list" in missing.stderr
    removed = run("calibrate", "--remove", entry["id"])
    assert removed.returncode == 0 and not os.path.exists(entry["path"])
    assert [e["id"] for e in map(orjson.loads, run("calibrate", "--list").stdout.splitlines())] == [None]
    assert run("calibrate").returncode == 2  # neither gold labels nor --list/--remove


def test_one_model_id_is_one_file_and_the_store_wins(smollm2_path, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    assert run("path", "smollm2-135m").stdout.decode().strip() == str(smollm2_path)
    imported = run("import", str(smollm2_path), "--as", "smollm2-135m:Q4_1")
    assert imported.returncode == 0, imported.stderr.decode()
    in_store = imported.stdout.decode().strip()
    assert in_store != str(smollm2_path) and in_store.startswith(str(home))
    assert run("path", "smollm2-135m").stdout.decode().strip() == in_store
    verified = run("verify", "smollm2-135m").stdout.decode().splitlines()
    assert len(verified) == 1 and verified[0].endswith(in_store)
    doctor = orjson.loads(run("doctor", "--json").stdout)
    assert doctor["model"]["path"] == in_store and doctor["model"]["other_copies"] == [str(smollm2_path)]
    text = run("doctor").stdout.decode()
    assert "the store's copy wins" in text and str(smollm2_path) in text
    assert run("rm", "smollm2-135m").returncode == 0
    assert run("path", "smollm2-135m").stdout.decode().strip() == str(smollm2_path)
