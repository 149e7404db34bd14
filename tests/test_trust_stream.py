"""Abstention and escalation records through `score` (order, count, resume), `serve --stdio` and
the API, with the real SmolLM2 (and the synthetic mR3 GGUF for `--escalate think`)."""

import signal
import subprocess
import sys

import orjson
import pytest
from click.testing import CliRunner

from edgejudge.cli import cli
from edgejudge.formats import JudgeOptions
from edgejudge.trust import abstain, calibration, metrics, store
from edgejudge.trust.cascade import Abstention, TrustedJudge

pytestmark = pytest.mark.model

RAW = JudgeOptions(explain=False)


def item(i: int, *, right_first: bool) -> dict:
    right, wrong = str(2 * i), str(2 * i + 1)
    a, b = (right, wrong) if right_first else (wrong, right)
    return {"id": f"item-{i}", "prompt": f"What is {i} + {i}?", "response_a": a, "response_b": b}


ITEMS = [item(i, right_first=i % 2 == 0) for i in range(1, 7)]


def jsonl(records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


@pytest.fixture(scope="module")
def split(smollm2_judge):
    """A threshold in the middle of the widest gap between SmolLM2's confidences on ITEMS, so that
    some items fall below it and some above, whatever small numeric noise the KV cache adds."""
    conf = sorted(metrics.confidence(smollm2_judge.judge(it, RAW).probabilities) for it in ITEMS)
    gap, lo = max((conf[i + 1] - conf[i], conf[i]) for i in range(len(conf) - 1))
    assert gap > 0.005, conf
    return lo + gap / 2


def check_statuses(records, threshold):
    for record in records:
        if record["status"] == "error":
            continue
        below = metrics.confidence(record["probabilities"]) < threshold
        assert record["status"] == ("abstain" if below else "ok"), record
        assert (record["verdict"] is None) == below and record["probabilities"]
        assert record["provenance"]["abstain"] == {"abstain_below": threshold, "threshold": threshold}


def test_score_abstains_in_order_and_counts_them(tmp_path, split):
    source = tmp_path / "in.jsonl"
    lines = [ITEMS[0], b"{broken", ITEMS[1], ITEMS[2], ITEMS[3], ITEMS[4], ITEMS[5]]
    source.write_bytes(jsonl(lines))
    result = CliRunner().invoke(cli, ["score", str(source), "--no-explain", "--abstain-below", str(split)])
    assert result.exit_code == 9  # the broken line; abstentions are not failures
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == list(range(1, 8))
    assert [r["id"] for r in records] == ["item-1", 2, "item-2", "item-3", "item-4", "item-5", "item-6"]
    check_statuses(records, split)
    statuses = [r["status"] for r in records]
    assert "ok" in statuses and "abstain" in statuses and statuses[1] == "error"
    abstained = statuses.count("abstain")
    assert f"{statuses.count('ok')} ok, 1 failed, {abstained} abstained" in result.stderr

    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(jsonl(ITEMS[:2]))
    everything = CliRunner().invoke(cli, ["score", str(clean), "--no-explain", "--abstain-below", "1", "-q"])
    assert everything.exit_code == 0  # every item abstained: still a success
    assert [orjson.loads(line)["status"] for line in everything.stdout.splitlines()] == ["abstain", "abstain"]


@pytest.mark.slow  # two model loads in subprocesses; run with -m slow
def test_resume_keeps_abstentions_once_each(tmp_path, run_cli):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(ITEMS))
    first = run_cli("score", str(source), "-o", str(out), "--no-explain", "--abstain-below", "1", "-q")
    assert first.returncode == 0, first.stderr.decode()
    kept = out.read_bytes().splitlines(keepends=True)[:2]
    out.write_bytes(b"".join(kept) + b'{"id": "item-3", "line": 3, "sta')  # killed mid-write
    done = run_cli("score", str(source), "-o", str(out), "--resume", "--no-explain", "--abstain-below", "1", "-q")
    assert done.returncode == 0, done.stderr.decode()
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["id"] for r in records] == [it["id"] for it in ITEMS]
    assert all(r["status"] == "abstain" and r["verdict"] is None for r in records)


@pytest.mark.slow  # two judges loaded; the API test covers escalation in the default run
def test_escalation_to_another_judge_through_score(tmp_path, split):
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(ITEMS))
    result = CliRunner().invoke(cli, ["score", str(source), "--no-explain", "--abstain-below", str(split),
                                      "--escalate", "smollm2-135m", "-q"])
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == [it["id"] for it in ITEMS]
    for record in records:
        first = record["stages"][0]
        assert first["stage"] == "smollm2-135m" and first["threshold"] == split
        if metrics.confidence(first["probabilities"]) >= split:
            assert record["status"] == "ok" and record["stage"] == "smollm2-135m" and len(record["stages"]) == 1
        else:  # handed to the second judge (the same weights: it is as unsure, so it abstains, or not)
            second = record["stages"][1]
            assert second["stage"] == "smollm2-135m#2" and len(record["stages"]) == 2
            decided = metrics.confidence(second["probabilities"]) >= split
            assert record["status"] == ("ok" if decided else "abstain")
            assert record["stage"] == ("smollm2-135m#2" if decided else None)
            assert record["timings"]["prompt_tokens"] == sum(s["timings"]["prompt_tokens"] for s in record["stages"])
    assert {len(r["stages"]) for r in records} == {1, 2}


def test_serve_stdio_answers_abstentions(run_cli):
    proc = subprocess.Popen([sys.executable, "-m", "edgejudge", "serve", "--stdio", "--no-explain",
                             "--abstain-below", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def ask(line: bytes) -> dict:
        proc.stdin.write(line + b"\n")
        proc.stdin.flush()
        return orjson.loads(proc.stdout.readline())

    try:
        answer = ask(orjson.dumps(ITEMS[0]))
        assert answer["status"] == "abstain" and answer["verdict"] is None and answer["id"] == "item-1"
        assert answer["line"] == 1 and set(answer["probabilities"]) == {"A", "B"}
        assert ask(b'{"op": "ping"}')["op"] == "pong"
        assert ask(b"{broken")["status"] == "error"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_api_abstains_and_escalates(smollm2_judge, split):
    trusted = TrustedJudge(smollm2_judge, policy=abstain.Policy(abstain_below=split))
    records = list(trusted.score_many(ITEMS, RAW))
    assert [r["line"] for r in records] == list(range(1, 7))
    check_statuses(records, split)
    unsure = next(it for it, r in zip(ITEMS, records) if r["status"] == "abstain")
    result = trusted.pairwise(unsure["prompt"], unsure["response_a"], unsure["response_b"], explain=False)
    assert isinstance(result, Abstention) and result.verdict is None and result.to_dict()["status"] == "abstain"

    cascade = TrustedJudge(smollm2_judge, policy=abstain.Policy(abstain_below=split), escalate=smollm2_judge)
    escalated = cascade.judge(unsure, RAW)
    assert [s["stage"] for s in escalated.to_dict()["stages"]] == ["smollm2-135m", "smollm2-135m#2"]
    assert smollm2_judge.model is not None  # the shared judge is not closed by the wrapper


def test_target_error_uses_the_stored_calibration(tmp_path, monkeypatch, smollm2_judge, split):
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "home"))
    from edgejudge.items import make_item

    first = make_item(ITEMS[0])
    key = store.key_for(smollm2_judge, first, RAW)
    # an identity calibration whose calibration set puts the threshold at `split`
    calibration_set = ([[round(split, 6), True, f"c{i}", f"i{i}"] for i in range(30)]
                       + [[round(split - 0.2, 6), False, f"c{i}", f"i{i}"] for i in range(30, 60)])
    record = store.make_record(key, smollm2_judge.format.template_sha256(),
                               store.settings_for(smollm2_judge, first, RAW), calibration.Fit(1.0), n=60,
                               labels=["A", "B"], held_out={}, calibration_set=calibration_set)
    store.save(key, record)
    threshold = abstain.target_threshold([e[0] for e in calibration_set], [e[1] for e in calibration_set], 0.2)
    assert threshold == round(split, 6)
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(ITEMS))
    result = CliRunner().invoke(cli, ["score", str(source), "--no-explain", "--target-error", "0.2", "-q"])
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    for r in records:
        assert r["provenance"]["calibration"] == record["id"]
        assert r["provenance"]["abstain"] == {"target_error": 0.2, "delta": 0.1, "threshold": threshold}
        assert r["status"] == ("ok" if metrics.confidence(r["probabilities"]) >= threshold else "abstain")

    swapped = CliRunner().invoke(cli, ["score", str(source), "--no-explain", "--swap", "--target-error", "0.2", "-q"])
    assert swapped.exit_code == 9  # swap on is another key: no calibration, so no guarantee to give
    assert {orjson.loads(line)["error"]["code"] for line in swapped.stdout.splitlines()} == {"no_calibration"}
    refused = CliRunner().invoke(cli, ["score", str(source), "--no-calibration", "--target-error", "0.2"])
    assert refused.exit_code == 2 and "--no-calibration" in refused.output


def test_escalation_needs_a_threshold_and_a_thinking_format(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(ITEMS[:1]))
    no_threshold = CliRunner().invoke(cli, ["score", str(source), "--escalate", "think"])
    assert no_threshold.exit_code == 2 and "--abstain-below" in no_threshold.output
    no_think = CliRunner().invoke(cli, ["score", str(source), "--escalate", "think", "--abstain-below", "0.9"])
    assert no_think.exit_code == 2 and "no reasoning phase" in no_think.output


def test_escalate_think_runs_the_reasoning_only_when_unsure(family_judges):
    mr3 = family_judges["mr3"]  # random weights: its confidence means nothing, the mechanics do
    pair = {"prompt": "What is 2+2?", "response_a": "4", "response_b": "5"}
    options = JudgeOptions(explain=False, think_budget=3)
    unsure = TrustedJudge(mr3, policy=abstain.Policy(abstain_below=1.0), escalate="think").judge(pair, options)
    record = unsure.to_dict()
    quick, think = record["stages"]
    assert (quick["stage"], quick["think"], quick["think_tokens"]) == ("quick", False, 0)
    assert (think["stage"], think["think"]) == ("think", True) and 0 < think["think_tokens"] <= 3
    assert record["status"] == "abstain" and record["think_tokens"] == think["think_tokens"]
    sure = TrustedJudge(mr3, policy=abstain.Policy(abstain_below=0.0), escalate="think").judge(pair, options)
    assert sure.to_dict()["stage"] == "quick" and sure.think_tokens == 0 and len(sure.to_dict()["stages"]) == 1
