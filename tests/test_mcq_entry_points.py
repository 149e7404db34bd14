"""One MCQ item means one thing in every entry point: its answers are "choices", and "options" is
always the line's run options (an object), so a line can carry both. ``score``, ``serve --stdio``,
``Judge.score_many``, ``judge --json`` and ``prompt --json`` are each run on the real llama.cpp
with the synthetic mR3 GGUF (the judge family that does mcq); the old spelling (a list under
"options") is a clear error in each, with SmolLM2 too."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from edgejudge.cli import cli
from edgejudge.formats import JudgeOptions

pytestmark = pytest.mark.model

MCQ = {"id": "q1", "task": "mcq", "prompt": "Which planet is largest?", "choices": ["Mars", "Jupiter", "Venus"]}
LINE_OPTIONS = {"think": False, "explain": False, "seed": 7}
OLD = {"id": "old", "task": "mcq", "prompt": "Which planet is largest?", "options": ["Mars", "Jupiter"]}


def invoke(*args, input: bytes | None = None):
    return CliRunner().invoke(cli, [a.decode() if isinstance(a, bytes) else str(a) for a in args], input=input)


def assert_judged_with_line_options(record: dict):
    assert record["status"] == "ok" and record["verdict"] in ("A", "B", "C"), record
    assert set(record["probabilities"]) == {"A", "B", "C"}
    assert record["think_tokens"] == 0 and record["explanation"] == "" and record["provenance"]["seed"] == 7


def assert_old_form_refused(record: dict):
    assert record["status"] == "error" and record["error"]["code"] == "bad_options", record
    assert '"choices"' in record["error"]["hint"] and "run options" in record["error"]["message"]


@pytest.fixture(scope="module")
def mr3(family_ggufs):
    return str(family_ggufs["mr3"])


def test_score_takes_choices_and_run_options_on_one_line(mr3, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(orjson.dumps({**MCQ, "options": LINE_OPTIONS}) + b"\n" + orjson.dumps(OLD) + b"\n")
    done = invoke("score", source, "-m", mr3, "--think-budget", "4", "-q")
    assert done.exit_code == 9, done.output  # the old form's line is an error record; the run goes on
    first, second = (orjson.loads(line) for line in done.stdout.splitlines())
    assert_judged_with_line_options(first)
    assert_old_form_refused(second)


def test_serve_takes_them_too(mr3):
    requests = orjson.dumps({**MCQ, "options": LINE_OPTIONS}) + b"\n" + orjson.dumps(OLD) + b"\n"
    done = invoke("serve", "--stdio", "-m", mr3, "--think-budget", "4", input=requests)
    assert done.exit_code == 0, done.output
    first, second = (orjson.loads(line) for line in done.stdout.splitlines())
    assert_judged_with_line_options(first)
    assert_old_form_refused(second)


def test_score_many_takes_them_as_dicts_and_as_lines(family_judges):
    judge = family_judges["mr3"]
    line = {**MCQ, "options": LINE_OPTIONS}
    records = list(judge.score_many([line, orjson.dumps(line).decode(), OLD], JudgeOptions(think_budget=4)))
    assert_judged_with_line_options(records[0])
    assert_judged_with_line_options(records[1])
    assert_old_form_refused(records[2])


def test_judge_json_applies_the_line_options(mr3):
    done = invoke("judge", "-m", mr3, "--think-budget", "4", "--json", orjson.dumps({**MCQ, "options": LINE_OPTIONS}))
    assert done.exit_code == 0, done.output
    assert_judged_with_line_options({"status": "ok", **orjson.loads(done.stdout)})
    flags = invoke("judge", "-m", mr3, "--no-think", "--no-explain", "--seed", "7", "--prompt", MCQ["prompt"],
                   *(a for choice in MCQ["choices"] for a in ("--choice", choice)))
    assert flags.exit_code == 0, flags.output
    assert_judged_with_line_options({"status": "ok", **orjson.loads(flags.stdout)})


def test_prompt_json_renders_the_choices_with_the_line_options(mr3):
    """mR3's mcq prompt text is the same with and without thinking; what follows it (--steps,
    on stderr) is not: the line's "think": false must give the steps of --no-think."""
    with_options = invoke("prompt", "-m", mr3, "--steps", "--json", orjson.dumps({**MCQ, "options": {"think": False}}))
    by_flag = invoke("prompt", "-m", mr3, "--steps", "--no-think", "--json", orjson.dumps(MCQ))
    thinking = invoke("prompt", "-m", mr3, "--steps", "--think", "--json", orjson.dumps(MCQ))
    assert with_options.exit_code == by_flag.exit_code == thinking.exit_code == 0, with_options.output
    assert "A. Mars\nB. Jupiter\nC. Venus" in with_options.stdout
    assert with_options.stdout == by_flag.stdout == thinking.stdout
    assert with_options.stderr == by_flag.stderr != thinking.stderr


@pytest.mark.parametrize("command", ["judge", "prompt"])
def test_the_old_form_is_a_clear_error_in_judge_and_prompt(command, smollm2_path):
    done = invoke(command, "-m", "smollm2-135m", "--json", orjson.dumps(OLD))
    assert done.exit_code == 5, done.output
    assert '"options" is a list, but it is the line\'s run options' in done.stderr
    assert 'go in "choices"' in done.stderr


def test_the_old_form_is_an_error_record_with_smollm2(smollm2_judge):
    [record] = smollm2_judge.score_many([OLD])
    assert_old_form_refused(record)
