"""Gold files and verdict files (``eval``, ``calibrate``) are checked line by line: every bad line is
named with its number, nothing is computed or fitted from a bad file, and no file makes either
command exit 1. A generated sweep puts hostile JSON values in every field a verdict record has."""

from __future__ import annotations

import math

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgejudge.cli import cli
from edgejudge.errors import EdgejudgeError, InputError
from edgejudge.formats import JudgeOptions
from edgejudge.trust import evaluate, gold, verdict_files

PAIR = {"prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5"}


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def jsonl(records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


def ok_record(i, verdict="A", p=0.8, **extra):
    other = "B" if verdict == "A" else "A"
    return {"id": i, "line": i, "status": "ok", "task": "pairwise", "verdict": verdict,
            "probabilities": {verdict: p, other: round(1 - p, 6)}, **extra}


# -- gold labels ------------------------------------------------------------------------------

BAD_GOLD = [
    ({**PAIR, "label": "C"}, "not a verdict label of the task 'pairwise'"),
    ({"prompt": "p", "response": "r", "label": "²"}, "'²' is not a verdict label of the task 'pointwise' (its scale is 1-5)"),
    ({"prompt": "p", "response": "r", "label": "٤"}, "'٤' is not a verdict label"),
    ({"prompt": "p", "response": "r", "label": 6}, "gold label 6 is not"),
    ({"prompt": "p", "response": "r", "label": 0}, "gold label 0 is not"),
    ({"prompt": "p", "response": "r", "label": 2.5}, "gold label 2.5 is not"),
    ({"prompt": "p", "response": "r", "scale": "1-10", "label": "11"}, "(its scale is 1-10)"),
    ({"task": "binary", "prompt": "p", "response": "r", "label": "yes"}, "use one of: true, false"),
    ({"task": "mcq", "prompt": "q", "choices": ["a", "b"], "label": "C"}, "use one of: A, B"),
    ({"task": "refine", "prompt": "q", "response": "r", "label": "A"}, "gives no verdict label"),
    ({**PAIR, "label": True}, "gold label True is not"),
    ({**PAIR, "label": [1]}, "must be a string, a number or a boolean"),
    ({**PAIR, "label": None}, "no gold 'label'"),
    ({**PAIR, "task": "nonsense", "label": "A"}, "unknown task"),
    ({"task": "mcq", "prompt": "q", "options": ["a", "b"], "label": "A"}, '"choices"'),
    ([1, 2], "not a JSON object"),
    (b'{"prompt": "p",', "not valid JSON"),
]


def test_every_bad_gold_line_is_named_with_its_number(tmp_path):
    path = tmp_path / "gold.jsonl"
    lines = [{**PAIR, "label": "A"}] + [case for case, _ in BAD_GOLD] + [{**PAIR, "label": "B"}]
    path.write_bytes(jsonl(lines))
    with pytest.raises(InputError) as bad:
        gold.read(path)
    assert bad.value.exit_code == 5 and f"{len(BAD_GOLD)} bad gold lines" in bad.value.message
    shown = bad.value.message.splitlines()[1:]
    for n, ((_, words), line) in enumerate(zip(BAD_GOLD, shown), 2):
        assert line.strip().startswith(f"line {n}: ") and words in line, (n, line)
    rc, said = invoke("eval", path, "--verdicts", path)
    assert rc == 5 and "line 3: gold label '²'" in said and "internal error" not in said


def test_good_gold_labels_in_every_spelling(tmp_path):
    cases = [({**PAIR, "label": "A"}, "A"), ({**PAIR, "label": "tie"}, "tie"),
             ({"prompt": "p", "response": "r", "label": 4}, "4"), ({"prompt": "p", "response": "r", "label": 4.0}, "4"),
             ({"prompt": "p", "response": "r", "label": "5"}, "5"),
             ({"prompt": "p", "response": "r", "scale": [0, 10], "label": 0}, "0"),
             ({"task": "binary", "prompt": "p", "response": "r", "label": False}, "false"),
             ({"task": "arena", **PAIR, "label": "both_bad"}, "both_bad"),
             ({"task": "strength", **PAIR, "label": 7}, "7"),
             ({"task": "mcq", "prompt": "q", "choices": ["a", "b", "c"], "label": "C"}, "C")]
    path = tmp_path / "gold.jsonl"
    path.write_bytes(jsonl([c for c, _ in cases]))
    assert [g["label"] for g in gold.read(path)] == [label for _, label in cases]
    assert [g["id"] for g in gold.read(path)] == list(range(1, len(cases) + 1))


# -- verdict files ----------------------------------------------------------------------------

# The hostile records that crashed eval/calibrate --verdicts, and what the error says about each.
BAD_RECORDS = [
    ([1, 2], "not a JSON object but a list"),
    ("text", "not a JSON object but a string"),
    ({"status": "ok"}, "no id"),
    ({"id": [1]}, "id is a list"),
    ({"id": 1, "status": "done"}, "status 'done' is not one of ok, error, abstain"),
    ({"id": 1, "status": ["ok"]}, "status ['ok'] is not one of"),
    ({**ok_record(1), "verdict": ["A"]}, "verdict is a list"),
    ({**ok_record(1), "verdict": 1}, "verdict is a number"),
    ({**ok_record(1), "stage": ["quick"]}, "stage is a list"),
    ({**ok_record(1), "raw_probabilities": [0.5, 0.5]}, "raw_probabilities is a list"),
    ({**ok_record(1), "probabilities": {"A": "0.8", "B": 0.2}}, "probabilities['A'] is a string, not a number"),
    ({**ok_record(1), "probabilities": {"A": 1e300, "B": 0.0}}, "= 1e+300 is not a probability"),
    ({**ok_record(1), "probabilities": {"A": -0.5, "B": 1.5}}, "= -0.5 is not a probability"),
    ({**ok_record(1), "probabilities": {"A": 0.5, "B": 0.4}}, "sum to 0.9, not 1"),
    ({**ok_record(1), "probabilities": {"A": True, "B": 0.0}}, "is a boolean, not a number"),
    ({**ok_record(1), "swap": {"agree": "yes"}}, "swap.agree is a string"),
    ({**ok_record(1), "swap": 3}, "swap is a number"),
    ({**ok_record(1), "model": "smollm2"}, "model is a string, not an object"),
    ({**ok_record(1), "model": {"sha256": 5}}, "model.sha256 is a number"),
    ({**ok_record(1), "provenance": []}, "provenance is a list"),
    ({**ok_record(1), "task": 7}, "task 7 is not one of"),
    (b"1e400", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
]


@pytest.mark.parametrize("report", [False, True])
def test_every_bad_verdict_record_is_named_and_nothing_is_computed(tmp_path, report):
    gold_file, verdicts = tmp_path / "gold.jsonl", tmp_path / "verdicts.jsonl"
    gold_file.write_bytes(jsonl([{"id": i, **PAIR, "label": "A"} for i in range(1, 3)]))
    verdicts.write_bytes(jsonl([ok_record(1)] + [r for r, _ in BAD_RECORDS] + [ok_record(2)]))
    out = tmp_path / "report.html"
    rc, said = invoke("eval", gold_file, "--verdicts", verdicts, *(["--report", out] if report else []))
    assert rc == 5, said
    assert f"{min(len(BAD_RECORDS), verdict_files.SHOWN)} records" not in said  # the count is of all of them
    assert f"{len(BAD_RECORDS)} records that edgejudge did not write" in said
    for n, (_, words) in enumerate(BAD_RECORDS[: verdict_files.SHOWN], 2):
        assert f"line {n}: " in said and words in said, (n, words, said)
    assert f"... and {len(BAD_RECORDS) - verdict_files.SHOWN} more" in said
    assert not out.exists() and "{" not in said.split("edgejudge: error")[0]  # no figures on stdout


def test_a_score_output_with_errors_and_abstentions_is_a_valid_verdict_file(tmp_path):
    gold_file, verdicts = tmp_path / "gold.jsonl", tmp_path / "verdicts.jsonl"
    gold_file.write_bytes(jsonl([{"id": i, **PAIR, "label": "A"} for i in range(1, 5)]))
    verdicts.write_bytes(jsonl([
        ok_record(1), ok_record(2, "B", 0.6),
        {"id": 3, "line": 3, "status": "error", "error": {"code": "bad_json", "message": "x"}, "model": None},
        {**ok_record(4, p=0.55), "status": "abstain", "verdict": None, "stage": "quick",
         "raw_probabilities": {"A": 0.5, "B": 0.5}, "swap": {"agree": None}},
    ]))
    rc, said = invoke("eval", gold_file, "--verdicts", verdicts)
    assert rc == 0, said
    result = orjson.loads(said.splitlines()[0])
    assert (result["n"], result["answered"], result["errors"], result["abstained"]) == (4, 2, 1, 1)


def test_calibrate_refuses_probabilities_it_must_not_fit(smollm2_judge, tmp_path, monkeypatch):
    """Negative probabilities once stored T = 632; now the file is refused and nothing is stored."""
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "home"))
    gold_file, verdicts = tmp_path / "gold.jsonl", tmp_path / "verdicts.jsonl"
    gold_file.write_bytes(jsonl([{"id": i, **PAIR, "label": "AB"[i % 2]} for i in range(12)]))
    sha, template = smollm2_judge.resolved.sha256, smollm2_judge.format.template_sha256()
    records = [ok_record(i, "A", 0.9, model={"id": "smollm2-135m", "sha256": sha},
                         provenance={"template_sha256": template}) for i in range(12)]
    records[5]["probabilities"] = {"A": -3.0, "B": 4.0}
    verdicts.write_bytes(jsonl(records))
    rc, said = invoke("calibrate", gold_file, "--verdicts", verdicts, "--no-explain")
    assert rc == 5 and "line 6: probabilities['A'] = -3.0 is not a probability" in said, said
    assert not (tmp_path / "home" / "models").exists() or not list((tmp_path / "home").rglob("calibration/*.json"))


# -- the generated sweep ----------------------------------------------------------------------

FIELDS = ("id", "status", "task", "verdict", "stage", "swap", "swap.agree", "probabilities", "probabilities.A",
          "raw_probabilities", "raw_probabilities.B", "model", "model.sha256", "model.id", "provenance",
          "provenance.template_sha256", "line", "error", "(the record)")
SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
           | st.sampled_from(["ok", "error", "abstain", "A", "B", "1", "²", "", "pairwise"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["A", "B", "agree", "sha256", "id", "x"]), inner, max_size=3),
                      max_leaves=6)


def _poisoned(records: list[dict], where: int, field: str, value) -> list:
    out = [dict(r) for r in records]
    if field == "(the record)":
        out[where] = value
        return out
    name, _, key = field.partition(".")
    if key:
        inner = out[where].get(name)
        inner = dict(inner) if isinstance(inner, dict) else {}
        inner[key] = value
        out[where][name] = inner
    else:
        out[where][name] = value
    return out


def _judge_records(judge, n: int) -> list[dict]:
    sha, template = judge.resolved.sha256, judge.format.template_sha256()
    return [ok_record(i, "AB"[i % 3 == 0], 0.6 + 0.03 * i, model={"id": judge.resolved.id, "sha256": sha},
                      provenance={"template_sha256": template}) for i in range(n)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=VALUES, where=st.integers(0, 11), report=st.booleans())
def test_no_verdict_file_makes_eval_or_calibrate_fail_as_a_bug(smollm2_judge, tmp_path, field, value, where, report):
    golds = [{"id": i, **PAIR, "label": "AB"[i % 2]} for i in range(12)]
    gold_file, verdicts = tmp_path / "gold.jsonl", tmp_path / "verdicts.jsonl"
    gold_file.write_bytes(jsonl(golds))
    records = _poisoned(_judge_records(smollm2_judge, 12), where, field, value)
    verdicts.write_bytes(jsonl(records))
    out = tmp_path / "report.html"
    rc, said = invoke("eval", gold_file, "--verdicts", verdicts, *(["--report", out] if report else []))
    assert rc in (0, 5), said
    assert "internal error" not in said
    try:
        checked = verdict_files.read(verdicts)
    except InputError as refused:
        assert rc == 5 and refused.message.splitlines()[1].strip().startswith(f"line {where + 1}: ")
        return
    assert rc == 0, said
    for record in checked:  # what was accepted is what eval and calibrate may rely on
        for name in ("probabilities", "raw_probabilities"):
            probs = record.get(name) or {}
            assert all(0 <= p <= 1 and math.isfinite(p) for p in probs.values())
    try:  # calibrate's own work on the accepted records, with the judge already loaded
        evaluate.calibrate(smollm2_judge, evaluate.read_gold(gold_file), checked, JudgeOptions(explain=False),
                           folds=3, save=False)
    except EdgejudgeError as refused:
        assert refused.exit_code != 1, refused
