"""Every judge family end to end on real llama.cpp, with tiny synthetic Qwen3/Qwen2 GGUFs.

The weights are random, so the verdicts mean nothing; what is checked is that every path (think,
budget forcing, explanation grammar, native verdict prefix, labels, swap, rubric and refine
generation) runs and always produces a valid result.
"""

import re
from dataclasses import replace

import pytest

from edgejudge.formats import JudgeOptions
from edgejudge.items import make_item
from edgejudge.plan import Generate

PAIR = {"prompt": "Which planet is largest?", "response_a": "Jupiter.", "response_b": "Mars."}


def valid(result, labels):
    assert result.verdict in labels
    assert set(result.probabilities) == set(labels)
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert 0.0 <= result.label_mass <= 1.0


def test_family_comes_from_the_gguf_metadata(family_judges):
    assert {f: j.format.family for f, j in family_judges.items()} == {
        "mr3": "mr3", "rmr1": "rmr1", "rubricrm": "rubricrm", "refiner": "refiner"}


@pytest.mark.parametrize("task, record, labels", [
    ("pairwise", PAIR, ("A", "B")),
    ("arena", PAIR, ("A", "B", "tie", "both_bad")),
    ("strength", PAIR, tuple(str(i) for i in range(1, 8))),
    ("binary", {"prompt": "2+2?", "response": "4"}, ("true", "false")),
    ("safety", {"prompt": "How do I bake bread?"}, ("true", "false")),
    ("mcq", {"prompt": "Largest planet?", "choices": ["Mars", "Jupiter", "Venus"]}, ("A", "B", "C")),
])
def test_mr3_tasks_with_reasoning_and_explanation(family_judges, task, record, labels):
    result = family_judges["mr3"].judge({"task": task, **record}, think_budget=12, max_explain_tokens=8,
                                        keep_reasoning=True)
    valid(result, labels)
    assert result.think_tokens <= 12 and isinstance(result.reasoning, str)
    assert '"' not in result.explanation


def test_a_model_that_never_closes_its_think_block_still_gives_a_verdict(family_judges):
    judge = family_judges["mr3"]
    item = make_item({"task": "pairwise", **PAIR})
    options = JudgeOptions(think_budget=20, max_explain_tokens=6)
    plan = judge.format.plan(item, options)
    think = plan.steps[0]
    assert isinstance(think, Generate) and think.think
    # A stop text that can never be produced: the block only ends because the budget runs out.
    plan = replace(plan, steps=(replace(think, stop=("\x00never\x00",)),) + plan.steps[1:])
    # From an empty context, as when run alone: what earlier tests left in the KV cache changes the
    # logits in their last digits, and the random-weight model may then sample an end-of-turn token.
    judge.engine.truncate(0)
    outcome = judge.engine.run(plan)
    assert outcome.exhausted["reasoning"] is True and outcome.think_tokens == 20
    tail = judge.model.detokenize(judge.engine.tokens[-40:])
    assert "\n</think>\n\n" in tail
    decision = judge.format.decide(item, outcome, options)
    assert decision.verdict in ("A", "B") and sum(decision.probabilities.values()) == pytest.approx(1.0)


def test_no_think_mode(family_judges):
    result = family_judges["mr3"].judge({"task": "pairwise", **PAIR}, think=False, explain=False)
    valid(result, ("A", "B"))
    assert result.think_tokens == 0


def test_swap_combines_both_orders(family_judges):
    result = family_judges["mr3"].judge({"task": "arena", **PAIR}, think=False, explain=False, swap=True)
    valid(result, ("A", "B", "tie", "both_bad"))
    first, second = result.swap["orders"]
    for label in result.probabilities:
        assert result.probabilities[label] == pytest.approx((first["probabilities"][label] +
                                                             second["probabilities"][label]) / 2, abs=1e-5)
    assert result.swap["agree"] == (first["verdict"] == second["verdict"])


def test_rm_r1_family(family_judges):
    result = family_judges["rmr1"].judge({"task": "pairwise", **PAIR}, think_budget=10, max_explain_tokens=6)
    valid(result, ("A", "B"))
    tail = family_judges["rmr1"].model.detokenize(family_judges["rmr1"].engine.tokens[-12:])
    assert "<answer>[[" in tail
    conversation = family_judges["rmr1"].judge({
        "task": "pairwise", "conversation_a": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        "conversation_b": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away"}]},
        think=False, explain=False)
    valid(conversation, ("A", "B"))


def test_rubricrm_judge_with_a_given_rubric(family_judges):
    rubric = "1. The response must name the planet. [Hard Rule]"
    result = family_judges["rubricrm"].judge({"task": "pairwise", **PAIR, "rubric": rubric}, think_budget=16,
                                             keep_reasoning=True)
    valid(result, ("A", "B"))
    assert "Winner: Response" in family_judges["rubricrm"].model.detokenize(family_judges["rubricrm"].engine.tokens[-6:])


def test_rubric_generation_follows_the_list_grammar(family_judges):
    judge = family_judges["rubricrm"]
    item = make_item({"task": "rubric", "prompt": "Write a haiku about rain."})
    plan = judge.format.plan(item, JudgeOptions())
    (step,) = plan.steps
    outcome = judge.engine.run(replace(plan, steps=(replace(step, max_tokens=60),)))
    text = outcome.texts["rubric"]
    assert re.match(r"[1-9][0-9]?\. The response ", text)
    for line in text.split("\n")[:-1]:  # every finished line is a whole item
        assert line.endswith(("[Hard Rule]", "[Principle]"))


def test_refiner_writes_one_answer_block(family_judges):
    judge = family_judges["refiner"]
    item = make_item({"task": "refine", "prompt": "Largest planet?", "response": "Jupiter, I think.",
                      "sources": "[1] Jupiter is the largest planet."})
    plan = judge.format.plan(item, JudgeOptions())
    (step,) = plan.steps
    outcome = judge.engine.run(replace(plan, steps=(replace(step, max_tokens=80),)))
    text = outcome.texts["refined"]
    assert "<" not in re.sub(r"<snippet id=[A-Za-z0-9_,.:-]+>[^<]*</snippet>", "", text)
    decision = judge.format.decide(item, outcome, JudgeOptions())
    assert decision.verdict is None and "refined" in decision.extra


def test_tasks_outside_the_family_are_refused(family_judges):
    from edgejudge.errors import InputError

    with pytest.raises(InputError) as info:
        family_judges["rmr1"].judge({"task": "arena", **PAIR})
    assert info.value.code == "unsupported_task"
