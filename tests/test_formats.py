"""Judge formats: golden renderings (bytes), plans, tables, and the verdict/swap logic."""

import os
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from edgejudge.errors import InputError, RegistryError
from edgejudge.formats import Format, JudgeOptions, justification, rubric_items, spec
from edgejudge.items import make_item
from edgejudge.plan import Append, Generate, LabelRead, Outcome, ReadLabels

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
PAIR = {"prompt": "PROMPT", "response_a": "RESPONSE_A", "response_b": "RESPONSE_B"}
ONE = {"prompt": "PROMPT", "response": "RESPONSE"}


def conv(side):
    """Two exchanges (one exchange renders as a single turn, as the authors do: test_fidelity.py)."""
    return [{"role": "user", "content": "TURN_1"}, {"role": "assistant", "content": f"TURN_2_{side}"},
            {"role": "user", "content": "TURN_3"}, {"role": "assistant", "content": f"RESPONSE_{side}"}]


CASES = [
    ("mr3", "mr3-pairwise-general.doc", {"task": "pairwise", "prompt": "{INPUT}", "response_a": "{RESPONSE_A}",
                                         "response_b": "{RESPONSE_B}"}),
    ("mr3", "mr3-pairwise-general", {"task": "pairwise", **PAIR}),
    ("mr3", "mr3-pairwise-safety", {"task": "pairwise", "subset": "safety", **PAIR}),
    ("mr3", "mr3-pairwise-math", {"task": "pairwise", "subset": "math", **PAIR}),
    ("mr3", "mr3-pairwise-code", {"task": "pairwise", "variant": "code", **PAIR}),
    ("mr3", "mr3-arena-single", {"task": "arena", **PAIR}),
    ("mr3", "mr3-arena-conversation", {"task": "arena", "conversation_a": conv("A"), "conversation_b": conv("B")}),
    ("mr3", "mr3-strength", {"task": "strength", "conversation": [
        {"role": "user", "content": "TURN_1"}, {"role": "assistant", "content": "TURN_2"},
        {"role": "user", "content": "TURN_3"}], "response_a": "RESPONSE_A", "response_b": "RESPONSE_B"}),
    ("mr3", "mr3-binary-math", {"task": "binary", **ONE}),
    ("mr3", "mr3-binary-code", {"task": "binary", "domain": "code", **ONE}),
    ("mr3", "mr3-safety-prompt", {"task": "safety", "prompt": "PROMPT"}),
    ("mr3", "mr3-safety-response", {"task": "safety", "target": "response", **ONE}),
    ("mr3", "mr3-safety-toxicity", {"task": "safety", "target": "toxicity", **ONE}),
    ("mr3", "mr3-mcq", {"task": "mcq", "prompt": "PROMPT", "choices": ["OPTION_1", "OPTION_2", "OPTION_3", "OPTION_4"]}),
    ("rmr1", "rmr1-pairwise.doc", {"task": "pairwise", "prompt": "{QUESTION}", "response_a": "{ANSWER_A}",
                                   "response_b": "{ANSWER_B}"}),
    ("rmr1", "rmr1-pairwise-conversation", {"task": "pairwise", "conversation_a": conv("A"), "conversation_b": conv("B")}),
    ("rubricrm", "rubricrm-rubric", {"task": "rubric", "prompt": "PROMPT"}),
    ("rubricrm", "rubricrm-pairwise-v1", {"task": "pairwise", "variant": "v1", "rubric": "RUBRIC", **PAIR}),
    ("rubricrm", "snapshot-rubricrm-pairwise-v2", {"task": "pairwise", "rubric": "RUBRIC", **PAIR}),
    ("refiner", "snapshot-refiner", {"task": "refine", **ONE, "sources": "SOURCES"}),
    ("generic", "snapshot-generic-pairwise", {"task": "pairwise", **PAIR, "rubric": "RUBRIC"}),
    ("generic", "snapshot-generic-pointwise", {"task": "pointwise", **ONE, "scale": "1-7"}),
]
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def make_format(family):
    return Format(family, chat_template=CHATML_TEMPLATE if family == "generic" else None)


@pytest.mark.parametrize("family, name, record", CASES, ids=[c[1] for c in CASES])
def test_golden_rendering(family, name, record):
    rendered = make_format(family).render(make_item(record))
    path = GOLDEN / f"{name}.txt"
    if name.startswith("snapshot-") and os.environ.get("EDGEJUDGE_UPDATE_SNAPSHOTS"):
        path.write_text(rendered, encoding="utf-8", newline="")  # after a deliberate prompt change
    assert rendered == path.read_text(encoding="utf-8")


def test_the_same_input_always_renders_the_same_prompt():
    item = make_item({"task": "pairwise", **PAIR})
    assert make_format("mr3").render(item) == make_format("mr3").render(item)


def test_mr3_matches_the_qwen3_jinja_template():
    from edgejudge.formats import chat

    template = (GOLDEN.parent / "templates" / "Qwen-Qwen3-0.6B.jinja").read_text()
    fmt = make_format("mr3")
    text, _ = fmt.frame(make_item({"task": "pairwise", **PAIR}))
    system, user = text.split("<|im_start|>system\n")[1].split("<|im_end|>\n<|im_start|>user\n")
    user = user.split("<|im_end|>")[0]
    via_jinja = chat.render(template, [{"role": "system", "content": system}, {"role": "user", "content": user}])
    assert text == via_jinja + "<think>"


def test_user_rubric_replaces_the_built_in_one():
    fmt = make_format("mr3")
    text = fmt.render(make_item({"task": "pairwise", **PAIR, "rubric": "A: A is better.\nB: B is better."}))
    assert "# Evaluation Rubric\n    A: A is better.\nB: B is better.\n\n\n    # Response Format" in text
    assert "Assistant A: Assistant A provides" not in text


def test_user_data_is_kept_as_data_segments():
    fmt = make_format("mr3")
    plan = fmt.plan(make_item({"task": "pairwise", **PAIR}), JudgeOptions())
    data = [text for text, is_data in plan.segments if is_data]
    assert data == ["PROMPT", "RESPONSE_A", "RESPONSE_B"]
    assert plan.prefix.endswith("# Input (User's Prompt)\n    ")


def steps_of(family, record, **options):
    return make_format(family).plan(make_item(record), JudgeOptions(**options)).steps


def test_mr3_plan_thinks_then_explains_then_reads_the_score():
    think, opening, explain, prefix, labels = steps_of("mr3", {"task": "pairwise", **PAIR})
    assert isinstance(think, Generate) and think.think and think.stop == ("</think>",)
    assert think.close == "\n</think>\n\n" and think.on_stop == "\n\n" and think.max_tokens == 8192
    assert opening == Append('{"explanation": "') and explain.grammar and explain.stop == ('"',)
    assert prefix == Append(', "score": "')
    assert labels == ReadLabels("verdict", ("Assistant A", "Assistant B"), terminator='"')


def test_no_think_and_no_explain_read_right_after_the_prefix():
    steps = steps_of("mr3", {"task": "arena", **PAIR}, think=False, explain=False)
    assert steps == (Append("\n\n</think>\n\n"), Append('{"score": "'),
                     ReadLabels("verdict", ("Assistant A", "Assistant B", "Tie", "Both Bad"), terminator='"'))
    assert steps_of("mr3", {"task": "pairwise", **PAIR}, think_budget=0)[0] == Append("\n\n</think>\n\n")
    assert steps_of("mr3", {"task": "pairwise", **PAIR}, think_budget=100)[0].max_tokens == 100


def test_rmr1_plan_reads_after_answer_brackets():
    think, summary, prefix, labels = steps_of("rmr1", {"task": "pairwise", **PAIR})
    assert think.stop == ("</think>",) and summary.stop == ("<answer>",) and summary.close == "\n\n<answer>"
    assert prefix == Append("[[") and labels.labels == ("A", "B")
    assert steps_of("rmr1", {"task": "pairwise", **PAIR}, explain=False)[1] == Append("<answer>[[")


def test_rubricrm_judge_reads_after_winner_response():
    think, prefix, labels = steps_of("rubricrm", {"task": "pairwise", **PAIR, "rubric": "R"})
    assert think.stop == ("Winner:",) and think.close == "\nWinner:"
    assert prefix == Append(" Response") and labels.labels == (" A", " B")
    skip = steps_of("rubricrm", {"task": "pairwise", **PAIR, "rubric": "R"}, think=False)
    assert skip[0] == Append("--- Final Judgment ---\nWinner:")


def test_text_tasks_generate_under_their_grammar():
    (rubric,) = steps_of("rubricrm", {"task": "rubric", "prompt": "P"})
    assert rubric.name == "rubric" and "Hard Rule" in rubric.grammar and rubric.max_tokens == 1024
    (refined,) = steps_of("refiner", {"task": "refine", **ONE})
    assert refined.stop == ("</answer>",) and "snippet" in refined.grammar


@pytest.mark.parametrize("family, record, code", [
    ("generic", {"task": "arena", **PAIR}, "unsupported_task"),
    ("mr3", {"task": "pairwise", **PAIR, "subset": "poetry"}, "bad_value"),
    ("mr3", {"task": "safety", "prompt": "P", "target": "response"}, "missing_field"),
    ("rubricrm", {"task": "pairwise", **PAIR}, "missing_field"),
    ("rmr1", {"task": "pairwise", **PAIR, "variant": "conversation"}, "bad_value"),
])
def test_format_level_input_errors(family, record, code):
    with pytest.raises(InputError) as info:
        make_format(family).render(make_item(record))
    assert info.value.code == code


def outcome_with(probabilities, texts=None):
    out = Outcome(texts=texts or {})
    out.labels["verdict"] = LabelRead(probabilities, 0.9)
    return out


def test_decisions_use_normalised_labels_and_scores():
    fmt = make_format("mr3")
    arena = make_item({"task": "arena", **PAIR})
    decision = fmt.decide(arena, outcome_with({"Assistant A": 0.2, "Assistant B": 0.1, "Tie": 0.6, "Both Bad": 0.1}),
                          JudgeOptions())
    assert decision.verdict == "tie" and set(decision.probabilities) == {"A", "B", "tie", "both_bad"}
    strength = make_item({"task": "strength", **PAIR})
    probs = {str(i): 0.0 for i in range(1, 8)} | {"2": 0.7, "3": 0.3}
    decision = fmt.decide(strength, outcome_with(probs), JudgeOptions())
    assert decision.score == 2 and decision.extra["expected_score"] == pytest.approx(2.3)


def test_reasoning_is_kept_only_when_asked():
    fmt = make_format("mr3")
    item = make_item({"task": "pairwise", **PAIR})
    outcome = outcome_with({"Assistant A": 0.9, "Assistant B": 0.1}, {"reasoning": "thoughts", "explanation": " e "})
    assert fmt.decide(item, outcome, JudgeOptions()).reasoning is None
    kept = fmt.decide(item, outcome, JudgeOptions(keep_reasoning=True))
    assert kept.reasoning == "thoughts" and kept.explanation == "e"


def test_rubric_items_drop_an_unfinished_item_and_renumber():
    text = "1. The response must be short. [Hard Rule]\n3. The response should be kind. [Principle]\n4. The response"
    assert rubric_items(text) == ["1. The response must be short. [Hard Rule]", "2. The response should be kind. [Principle]"]


def test_rubricrm_explanation_is_the_final_justification():
    analysis = ("--- Analysis ---\nJustification: per criterion\n--- Final Judgment ---\n"
                "Aggregation Summary: x\nJustification: A follows the rule.\n")
    assert justification(analysis) == "A follows the rule."


def test_format_tables_reject_unknown_keys():
    text = (spec.FAMILY_FILES and "[family]\nname='x'\nchat='chatml'\nsource='s'\ncolour='red'\n[tasks]\n")
    with pytest.raises(RegistryError, match="family.colour"):
        spec.parse(text, "x.toml")


def test_every_family_table_loads():
    for family in spec.FAMILY_FILES:
        table = spec.load(family)
        assert table.family.name == family and table.tasks


def test_a_cut_answer_loses_its_open_snippet_tag():
    from edgejudge.formats import well_formed

    assert well_formed("Jupiter <snippet id=1>is big</snippet> and <snippet id=2>gas") == \
        "Jupiter <snippet id=1>is big</snippet> and gas"
    assert well_formed("Jupiter <snipp") == "Jupiter "
    assert well_formed("Plain text.") == "Plain text."


def test_swap_combination_on_known_probabilities():
    from edgejudge.formats import Decision
    from edgejudge.judging.verdict import combine_swap

    first = Decision("A", {"A": 0.8, "B": 0.2}, 0.9)
    second = Decision("A", {"A": 0.6, "B": 0.4}, 0.7)  # swapped order: its "A" is the original B
    combined, swap = combine_swap("pairwise", first, second, tie_on_disagreement=False)
    assert combined.probabilities == pytest.approx({"A": 0.6, "B": 0.4})
    assert combined.verdict == "A" and combined.label_mass == pytest.approx(0.8)
    assert swap["agree"] is False and swap["orders"][1]["verdict"] == "B"
    assert combine_swap("pairwise", first, second, tie_on_disagreement=True)[0].verdict == "tie"
    agreeing = Decision("B", {"A": 0.1, "B": 0.9}, 0.9)
    combined, swap = combine_swap("pairwise", first, agreeing, tie_on_disagreement=True)
    assert swap["agree"] is True and combined.verdict == "A" and combined.probabilities["A"] == pytest.approx(0.85)

    strength = {str(i): 0.0 for i in range(1, 8)}
    one = Decision("2", {**strength, "2": 1.0}, 1.0, score=2)
    other = Decision("6", {**strength, "6": 1.0}, 1.0, score=6)  # swapped 6 = original 2
    combined, swap = combine_swap("strength", one, other, tie_on_disagreement=False)
    assert swap["agree"] is True and combined.score == 2 and combined.probabilities["2"] == pytest.approx(1.0)


@given(st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=12))
def test_rounded_probabilities_sum_to_one_and_stay_within_a_unit(weights):
    from edgejudge.judging.verdict import DIGITS, _rounded

    total = sum(weights)
    assume(total > 0)
    probabilities = {f"label{i}": w / total for i, w in enumerate(weights)}
    rounded = _rounded(probabilities)
    assert list(rounded) == list(probabilities)
    units = [round(v * 10**DIGITS) for v in rounded.values()]
    assert sum(units) == 10**DIGITS  # exactly 1 at the printed precision
    assert all(abs(rounded[k] - p) < 10**-DIGITS for k, p in probabilities.items())


@pytest.mark.parametrize(("family", "explains"), [("generic", False), ("mr3", True), ("rmr1", True)])
def test_explanations_by_default_only_for_families_trained_to_explain(family, explains):
    def generates(**options):
        return any(isinstance(s, Generate) and s.name == "explanation"
                   for s in steps_of(family, {"task": "pairwise", **PAIR}, think=False, **options))

    assert generates() is explains  # JudgeOptions.explain None: the family's default
    assert generates(explain=True) and not generates(explain=False)
    assert make_format(family).explains(JudgeOptions()) is explains
    assert spec.load("rubricrm").family.explain_by_default  # explains in its reasoning


def test_explain_flag_defaults_to_the_family_and_the_help_says_so():
    from click.testing import CliRunner

    from edgejudge.cli import cli
    from edgejudge.formats import option_rules

    option_rules.check_option("explain", None)  # a JSON line's "explain": null means the default
    help_text = " ".join(CliRunner().invoke(cli, ["judge", "--help"]).output.split())
    assert "off for generic models such as the default" in help_text
    shown = CliRunner().invoke(cli, ["prompt", "--steps", "--prompt", "p", "--response-a", "a", "--response-b", "b",
                                     "-m", "mr3-qwen3-4b", "--no-think"])
    assert shown.exit_code == 0 and '"explanation"' in shown.output
