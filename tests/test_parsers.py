"""Parsing free-running outputs: the authors' verdict, never one from inside the reasoning."""

import json
from pathlib import Path

import pytest

from edgejudge.errors import ParseError
from edgejudge.judging.parsers import parse

DATA = Path(__file__).resolve().parent / "data"


def test_real_rm_r1_output_is_a():
    demo = json.loads((DATA / "rm-r1-demo-output.json").read_text())
    assert demo["label"] == "A"
    assert parse("rmr1", "pairwise", demo["completion"]).verdict == "A"


def test_rm_r1_markers_inside_the_reasoning_are_ignored():
    text = "Maybe <answer>[[B]]</answer>? Or [[A]]...\n</think>\n\nSummary.\n\n<answer>[[A]]</answer>"
    assert parse("rmr1", "pairwise", text).verdict == "A"
    with pytest.raises(ParseError, match="never ended"):
        parse("rmr1", "pairwise", "I think <answer>[[B]]</answer> is right")
    with pytest.raises(ParseError):
        parse("rmr1", "pairwise", "reasoning</think>\n\nNo verdict here.")


@pytest.mark.parametrize("answer, verdict", [
    ('{"explanation": "A is right.", "score": "Assistant A"}', "A"),
    ('```json\n{"explanation": "x", "score": "Assistant B"}\n```', "B"),
    ("{'explanation': 'x', 'score': 'Assistant B'}", "B"),
    ('{"explanation": "cut off, "score": "Assistant A"', "A"),
])
def test_mr3_answers(answer, verdict):
    assert parse("mr3", "pairwise", "reasoning...</think>\n\n" + answer).verdict == verdict


def test_mr3_numbers_are_normalised_and_checked():
    assert parse("mr3", "strength", '</think>{"score": "5.0"}').verdict == "5"
    assert parse("mr3", "strength", '</think>{"explanation": "", "score": 7}').verdict == "7"
    with pytest.raises(ParseError, match="allowed"):
        parse("mr3", "strength", '</think>{"score": "9"}')


def test_mr3_never_reads_the_reasoning():
    with pytest.raises(ParseError):
        parse("mr3", "pairwise", '<think>"score": "Assistant A" is tempting')
    with pytest.raises(ParseError):
        parse("mr3", "pairwise", 'The "score": "Assistant A" looks right</think>\n\n{"explanation": "x"}')


def test_rubricrm_takes_the_last_winner_line():
    text = "--- Analysis ---\nResponse A is better here.\n--- Final Judgment ---\nJustification: B wins.\nWinner: Response B."
    assert parse("rubricrm", "pairwise", text).verdict == "B"
    assert parse("rubricrm", "pairwise", "Winner: A").verdict == "A"
    with pytest.raises(ParseError):
        parse("rubricrm", "pairwise", "Winner: Response A\nWinner: both")
    with pytest.raises(ParseError):
        parse("rubricrm", "pairwise", "Response A is better")


def test_generic_json():
    assert parse("generic", "pairwise", '{"explanation": "x", "verdict": "B"}').verdict == "B"
    assert parse("generic", "pointwise", '{"score": "4"}').verdict == "4"
    with pytest.raises(ParseError):
        parse("generic", "pairwise", '{"verdict": "C"}')


def test_refiner_has_no_verdict():
    with pytest.raises(ParseError):
        parse("refiner", "refine", "<answer>x</answer>")
