"""``--resume`` reads every kind of record edgejudge writes (judging.verdict.STATUSES: ok, error,
abstain): after a ``kill -9`` in the middle of a run that wrote each kind, and after a finished run
with abstentions, which resumes as a no-op."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from click.testing import CliRunner

from edgejudge.cli import cli
from edgejudge.errors import UsageError
from edgejudge.judging.verdict import STATUSES
from edgejudge.streams import resume
from edgejudge.trust import metrics

FAST = ("--no-explain", "--threads", "1", "--no-calibration", "-q")


def item(i: int) -> dict:
    right, wrong = str(2 * i), str(2 * i + 1)
    a, b = (right, wrong) if i % 2 else (wrong, right)
    return {"id": f"item-{i}", "prompt": f"What is {i} + {i}?", "response_a": a, "response_b": b}


def jsonl(records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """An item SmolLM2 is sure of, one it is unsure of, and a threshold between them (in the middle
    of the widest gap between its confidences on a few items, so KV-cache noise cannot cross it).
    The confidences come from a `score` run with the flags the tests below use, so nothing another
    test left in the session (a judge's cache, a stored calibration) can move them."""
    candidates = [item(i) for i in range(1, 9)]
    source = tmp_path_factory.mktemp("kinds") / "candidates.jsonl"
    source.write_bytes(jsonl(candidates))
    scored = CliRunner().invoke(cli, ["score", str(source), "--group-window", "1", *FAST])
    assert scored.exit_code == 0, scored.output
    conf = {r["id"]: metrics.confidence(r["probabilities"]) for r in map(orjson.loads, scored.stdout.splitlines())}
    ranked = sorted(conf.values())
    gap, lo = max((ranked[i + 1] - ranked[i], ranked[i]) for i in range(len(ranked) - 1))
    assert gap > 0.005, ranked
    split = lo + gap / 2
    sure = next(c for c in candidates if conf[c["id"]] > split)
    unsure = next(c for c in candidates if conf[c["id"]] < split)
    return sure, unsure, split


def test_the_resume_reader_takes_every_status_and_only_those(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(jsonl([{"id": f"x{n}", "line": n, "status": status, **({"error": {"code": "bad_json"}}
                                                                            if status == "error" else {})}
                           for n, status in enumerate(STATUSES, 1)]))
    earlier = resume.read(out)
    assert sum(earlier.done.values()) == len(STATUSES) and not earlier.rewrite
    out.write_bytes(jsonl([{"id": "y", "line": 1, "status": "finished"}]))
    with pytest.raises(UsageError, match="line 1 is not a record edgejudge wrote"):
        resume.read(out)


@pytest.mark.hostile
def test_a_run_killed_after_writing_every_kind_of_record_resumes(tmp_path, kinds):
    sure, unsure, split = kinds
    lines = [b"{not json", sure, unsure] + [item(i) for i in range(100, 112)]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(lines))
    args = ["score", str(source), "-o", str(out), "--abstain-below", str(split), "--group-window", "1", *FAST]
    run = subprocess.Popen([sys.executable, "-m", "edgejudge", *args], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 4):
            assert run.poll() is None, run.stderr.read().decode()
            time.sleep(0.02)
        assert run.poll() is None, "the run ended before it could be killed"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        run.kill()
        run.wait()
        run.stderr.close()
    written = out.read_bytes()
    whole = written[: written.rfind(b"\n") + 1]
    before = [orjson.loads(line) for line in whole.splitlines()]
    assert [r["status"] for r in before[:3]] == ["error", "ok", "abstain"]
    assert len(before) < len(lines), "killed after the last record: nothing left to resume"

    done = subprocess.run([sys.executable, "-m", "edgejudge", *args, "--resume"], capture_output=True, timeout=600)
    assert done.returncode == 9, done.stderr.decode()  # the earlier error record is still an error
    final = out.read_bytes()
    assert final.startswith(whole), "a record written before the kill was changed"
    records = [orjson.loads(line) for line in final.splitlines()]
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
    assert {r["status"] for r in records} <= set(STATUSES)
    assert [r["id"] for r in records[len(before):]] == [r["id"] for r in lines[len(before):]]


@pytest.mark.model
def test_a_finished_run_with_abstentions_resumes_as_a_no_op(tmp_path, kinds):
    sure, unsure, split = kinds
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl([sure, b"[1, 2]", unsure, {**unsure, "id": "again"}]))
    args = ["score", str(source), "-o", str(out), "--abstain-below", str(split), *FAST[:-1]]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 9, first.output
    written = out.read_bytes()
    assert [orjson.loads(line)["status"] for line in written.splitlines()] == ["ok", "error", "abstain", "abstain"]
    again = CliRunner().invoke(cli, [*args, "--resume"])
    assert again.exit_code == 9, again.output
    assert out.read_bytes() == written
    assert "0 lines judged" in again.stderr and "4 already done" in again.stderr
