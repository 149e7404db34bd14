"""Fidelity to the judges' authors (project issue 12): expectations built from the authors' layouts
and rules as transcribed in the reference (judge-formats.md), never from edgejudge's own output.

1. a one-exchange conversation renders as the authors' single turn;
2. parsers: the reasoning ends at the first </think>; per-family two-answer rules; mR3's
   case-insensitive label comparison per task; RubricRM's Winner line outside the reasoning;
3. think budgets: the authors' figures as registry data, and ``think_budget="authors"``;
4. mR3's rubric variants: every (text, key order) renderable, and the average over them;
7. what cannot be checked is labelled ``unverified`` in the tables and by ``edgejudge prompt``.
"""

import itertools
import json
import re
from pathlib import Path

import pytest

from edgejudge.errors import InputError, ParseError, RegistryError
from edgejudge.formats import Decision, Format, JudgeOptions, spec
from edgejudge.formats.rubrics import nth_permutation, sample
from edgejudge.items import make_item
from edgejudge.judging import variants
from edgejudge.judging.parsers import parse
from edgejudge.store import registry

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden"


def exchange(user, assistant=None):
    messages = [{"role": "user", "content": user}]
    if assistant is not None:
        messages.append({"role": "assistant", "content": assistant})
    return messages


def user_turn(text):
    return text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]


# -- 1. one exchange = the single-turn template ---------------------------------------------------

# mR3 ArenaHumanPreferenceDataset, single turn (judge-formats.md 2c, 8-space indent).
MR3_ARENA_SINGLE_USER = ("# Input (User's Prompt)\n        {INPUT}\n\n        # Assistant A\n        {RESPONSE_A}\n\n"
                         "        # Assistant B\n        {RESPONSE_B}\n\n        # Your Response\n        ")
# RM-R1 single turn, the reference's VERBATIM golden render (judge-formats.md 5c).
RMR1_SINGLE = (
    "<｜begin▁of▁sentence｜><｜User｜>Please act as an impartial judge and evaluate the quality of the responses "
    "provided by two AI Chatbots to the Client question displayed below. \n\n[Client Question]\n{QUESTION}\n\n"
    "[The Start of Chatbot A's Response]\n{ANSWER_A}\n[The End of Chatbot A's Response]\n\n"
    "[The Start of Chatbot B's Response]\n{ANSWER_B}\n[The End of Chatbot B's Response]\n\n"
    "Output your final verdict at last by strictly following this format: '<answer>[[A]]</answer>' if Chatbot A "
    "is better, or '<answer>[[B]]</answer>' if Chatbot B is better.<｜Assistant｜><think>\n")


def test_one_exchange_arena_conversation_gets_mr3_single_turn_template():
    item = make_item({"task": "arena", "conversation_a": exchange("PROMPT", "RESPONSE_A"),
                      "conversation_b": exchange("PROMPT", "RESPONSE_B")})
    rendered = Format("mr3").render(item)
    assert rendered == (GOLDEN / "mr3-arena-single.txt").read_text(encoding="utf-8")
    expected_user = (MR3_ARENA_SINGLE_USER.replace("{INPUT}", "PROMPT").replace("{RESPONSE_A}", "RESPONSE_A")
                     .replace("{RESPONSE_B}", "RESPONSE_B"))
    assert user_turn(rendered) == expected_user


def test_one_exchange_conversation_gets_rm_r1_single_turn_template():
    item = make_item({"task": "pairwise", "conversation_a": exchange("{QUESTION}", "{ANSWER_A}"),
                      "conversation_b": exchange("{QUESTION}", "{ANSWER_B}")})
    assert Format("rmr1").render(item) == RMR1_SINGLE


def test_mr3_single_turn_takes_an_empty_response_when_a_side_has_none():
    # mR3: responses = each side's first assistant message, "empty if none" (judge-formats.md 2c).
    item = make_item({"task": "arena", "conversation_a": exchange("Q", "ANSWER"), "conversation_b": exchange("Q")})
    expected = MR3_ARENA_SINGLE_USER.replace("{INPUT}", "Q").replace("{RESPONSE_A}", "ANSWER").replace("{RESPONSE_B}", "")
    assert user_turn(Format("mr3").render(item)) == expected


@pytest.mark.parametrize("conversation_a, conversation_b", [
    (exchange("Q", "A1") + exchange("Q2", "A2"), exchange("Q", "B1") + exchange("Q2", "B2")),  # two turns
    (exchange("Q", "A1"), exchange("Other question", "B1")),  # the sides ask different things
    ([{"role": "system", "content": "S"}] + exchange("Q", "A1"), exchange("Q", "B1")),  # RM-R1: 3 messages
])
def test_anything_more_than_one_exchange_keeps_the_conversation_layout(conversation_a, conversation_b):
    record = {"conversation_a": conversation_a, "conversation_b": conversation_b}
    mr3 = user_turn(Format("mr3").render(make_item({"task": "arena", **record})))
    assert mr3.startswith("# Assistant A\n        <") and "# Input (User's Prompt)" not in mr3
    rmr1 = Format("rmr1").render(make_item({"task": "pairwise", **record}))
    assert "[The Start of the Conversation between Chatbot A and the Client]\n" in rmr1
    assert "[Client Question]" not in rmr1


def test_an_explicit_conversation_variant_is_kept_and_swapping_swaps_the_single_turn():
    record = {"conversation_a": exchange("Q", "ONE"), "conversation_b": exchange("Q", "TWO")}
    explicit = Format("rmr1").render(make_item({"task": "pairwise", "variant": "conversation", **record}))
    assert "User: Q\nChatbot A: ONE\n[The End of the Conversation between Chatbot A" in explicit
    swapped = Format("rmr1").render(make_item({"task": "pairwise", **record}).swapped())
    assert "[The Start of Chatbot A's Response]\nTWO\n" in swapped and "[The Start of Chatbot B's Response]\nONE\n" in swapped


# -- 2. parsers -------------------------------------------------------------------------------------

def authors_mr3(text: str):
    """mR3's evaluation parser as judge-formats.md 2e describes it (split at the first </think>, JSON,
    else the first score match, numbers normalised); returns the score value or "Error"."""
    answer = text.split("</think>", 1)[1].strip() if "</think>" in text else text
    try:
        value = json.loads(answer)
        return value["score"] if isinstance(value, dict) and "score" in value else "Error"
    except json.JSONDecodeError:
        pass
    match = re.search(r"""['"]?score['"]?\s*:\s*(?:(["'])(.*?)\1|([^,}\s]+))""", answer)
    if not match:
        return "Error"
    value = match.group(2) if match.group(2) is not None else match.group(3)
    return str(int(float(value))) if re.fullmatch(r"\d+(\.0+)?", value) else value


def authors_match(task: str, value, native: str) -> bool:
    """mR3's comparison (judge-formats.md 2e.4): HelpSteer3 by int(score); exact for RewardBench /
    m-RewardBench (the strict pair); str(x).lower() elsewhere."""
    if task == "strength":
        try:
            return int(value) == int(native)
        except ValueError:
            return False
    return str(value) == native if task == "pairwise" else str(value).lower() == native.lower()


MR3_OUTPUTS = [
    ("pairwise", 'Thinking.\n</think>\n\n{"explanation": "x", "score": "Assistant A"}'),
    ("pairwise", 'T</think>{"explanation": "x", "score": "assistant a"}'),
    ("pairwise", 'T</think>\n{"score": "Assistant B"}\n</think>'),
    ("pairwise", 'T</think>\n{"score": "Assistant B"}\n{"score": "Assistant A"}'),
    ("arena", 'T</think>{"explanation": "x", "score": "assistant a"}'),
    ("arena", 'T</think>{"explanation": "x", "score": "Both bad"}'),
    ("arena", 'T</think>{"explanation": "x", "score": "TIE"}'),
    ("binary", 'T</think>{"explanation": "x", "score": true}'),
    ("binary", 'T</think>{"explanation": "x", "score": "True"}'),
    ("binary", 'T</think>```json\n{"explanation": "x", "score": "False"}\n```'),
    ("safety", "T</think>{'explanation': 'x', 'score': 'TRUE'}"),
    ("mcq", 'T</think>{"explanation": "x", "score": "b"}'),
    ("mcq", 'T</think>{"explanation": "x", "score": "E"}'),
    ("strength", 'T</think>{"explanation": "x", "score": "07"}'),
    ("strength", 'T</think>{"explanation": "x", "score": 5.0}'),
]


@pytest.mark.parametrize("task, output", MR3_OUTPUTS)
def test_mr3_parser_agrees_with_the_authors(task, output):
    table = spec.load("mr3").tasks[task]
    labels = table.labels or tuple((str(n), str(n)) for n in range(1, 8))
    value = authors_mr3(output)
    expected = next((label for native, label in labels if authors_match(task, value, native)), None)
    if expected is None:
        with pytest.raises(ParseError):
            parse("mr3", task, output)
    else:
        assert parse("mr3", task, output).verdict == expected


def test_case_rules_per_task_are_data():
    tasks = spec.load("mr3").tasks
    assert {name: t.case_insensitive for name, t in tasks.items()} == {
        "pairwise": False, "arena": True, "strength": True, "binary": True, "safety": True, "mcq": True}
    with pytest.raises(ParseError, match="compared exactly"):
        parse("mr3", "pairwise", 'T</think>{"score": "assistant a"}')


STRAY = "ok\n</think>\n\n<answer>[[A]]</answer>\n</think>"


def test_a_stray_think_close_after_the_answer_keeps_the_verdict():
    # The three authors' parsers on this output (judge-formats.md 5e): RM-R1's eval (whole-output
    # substring test: [[A]] only -> A), its RL reward (last 80 characters hold <answer>[[A]]</answer>)
    # and mR3's baseline parser (first <answer>[[X]]</answer>): all A.
    assert "[[A]]" in STRAY and "[[B]]" not in STRAY
    assert "<answer>[[A]]</answer>" in STRAY[-80:]
    assert re.search(r"<answer>\[\[(.)\]\]</answer>", STRAY).group(1) == "A"
    assert parse("rmr1", "pairwise", STRAY).verdict == "A"
    assert parse("mr3", "binary", 'ok\n</think>\n\n{"score": "false"}\n</think>').verdict == "false"
    assert parse("rubricrm", "pairwise", "<think>\n\n</think>\n\nWinner: Response B\n</think>").verdict == "B"


def test_rm_r1_two_different_answers_are_an_error_as_in_its_evaluation():
    both = "reasoning\n</think>\n\n<answer>[[A]]</answer>\n<answer>[[B]]</answer>"
    with pytest.raises(ParseError, match=r"both \[\[A\]\] and \[\[B\]\]"):
        parse("rmr1", "pairwise", both)
    # The evaluation does not check the answer tags: a bare marker counts.
    assert parse("rmr1", "pairwise", "r</think>\n\nChatbot B is better: [[B]]").verdict == "B"
    # Markers inside the reasoning are never read (where the evaluation would call this an error).
    assert parse("rmr1", "pairwise", "[[B]] or [[A]]?\n</think>\n<answer>[[A]]</answer>").verdict == "A"


def test_real_rm_r1_output_still_parses():
    demo = json.loads((DATA / "rm-r1-demo-output.json").read_text())
    assert parse("rmr1", "pairwise", demo["completion"]).verdict == demo["label"] == "A"


def test_two_answer_rules_are_data_per_family():
    assert {f: spec.load(f).family.answers for f in ("mr3", "rmr1", "rubricrm", "generic")} == {
        "mr3": "first", "rmr1": "conflict_is_error", "rubricrm": "last", "generic": "first"}
    with pytest.raises(RegistryError, match="answers"):
        spec.parse("[family]\nname='x'\nchat='chatml'\nsource='s'\nanswers='any'\n[tasks]\n", "x.toml")


def test_rubricrm_winner_inside_the_reasoning_is_not_the_verdict():
    text = "<think>\nWinner: Response B looks likely\n</think>\n\n--- Final Judgment ---\nWinner: Response A (clearly)"
    assert parse("rubricrm", "pairwise", text).verdict == "A"
    with pytest.raises(ParseError):
        parse("rubricrm", "pairwise", "<think>\nWinner: Response B\n</think>\n\nNo decision.")
    with pytest.raises(ParseError):
        parse("rubricrm", "pairwise", "<think>\nWinner: Response B\n")  # the reasoning never ended
    assert parse("rubricrm", "pairwise", "**Winner:** Response B.").verdict == "B"
    with pytest.raises(ParseError):
        parse("rubricrm", "pairwise", "Winner: Tie")


def test_parse_command_exits_13_with_the_reason(tmp_path, run_cli):
    path = tmp_path / "out.txt"
    path.write_text("r</think>\n<answer>[[A]]</answer> <answer>[[B]]</answer>")
    result = run_cli("parse", "--family", "rmr1", str(path), timeout=60)
    assert result.returncode == 13 and b"both [[A]] and [[B]]" in result.stderr
    path.write_text('r</think>{"explanation": "x", "score": "assistant b"}')
    result = run_cli("parse", "--family", "mr3", "--task", "arena", str(path), timeout=60)
    assert result.returncode == 0 and json.loads(result.stdout)["verdict"] == "B"


# -- 3. think budgets ---------------------------------------------------------------------------------

def test_authors_budgets_are_registry_data_apart_from_the_defaults():
    models = registry.load().models
    # mR3's configs: 16,384 new tokens; RM-R1's eval_one_command.sh: 50,000; OpenRubrics Table 8: 4,096.
    assert models["mr3-qwen3-4b"].authors_think_budget == 16384
    assert models["rm-r1-14b"].authors_think_budget == 50000
    assert models["rubricrm-4b-judge"].authors_think_budget == 4096
    assert models["refiner-qwen3-4b"].authors_think_budget is None  # not public
    for spec_ in models.values():
        if spec_.authors_think_budget is not None:
            assert spec_.authors_think_budget_source
    assert models["mr3-qwen3-4b"].think_budget != models["mr3-qwen3-4b"].authors_think_budget


def test_registry_rejects_an_authors_budget_without_its_source(tmp_path):
    text = (Path(registry.__file__).parent / "models.toml").read_text()
    broken = text.replace('authors_think_budget_source = "rubricreward/mr3', 'x_source = "', 1)
    with pytest.raises(RegistryError):
        registry.parse(broken, "models.toml")
    without = re.sub(r'\nauthors_think_budget_source = "rubricreward/mr3[^\n]*', "", text, count=1)
    with pytest.raises(RegistryError, match="authors_think_budget_source"):
        registry.parse(without, "models.toml")


@pytest.mark.parametrize("model, budget", [("mr3-qwen3-4b", 16384), ("rm-r1-14b", 50000)])
def test_think_budget_authors_uses_the_authors_figure(model, budget):
    from edgejudge.judging import prompts

    fmt = prompts.format_for(model)
    item = make_item({"task": "pairwise", "prompt": "P", "response_a": "A", "response_b": "B"})
    assert fmt.plan(item, JudgeOptions(think_budget="authors")).steps[0].max_tokens == budget
    assert fmt.plan(item, JudgeOptions()).steps[0].max_tokens == registry.load().get(model).think_budget


def test_think_budget_authors_where_unknown_is_an_input_error():
    from edgejudge.judging import prompts

    fmt = prompts.format_for("refiner-qwen3-4b")
    with pytest.raises(InputError, match="not known"):
        fmt.budget(JudgeOptions(think_budget="authors"))
    with pytest.raises(InputError):
        JudgeOptions(think_budget="lots")


def test_think_budget_flag_and_jsonl_option():
    import click

    from edgejudge.cli.options import ThinkBudget
    from edgejudge.streams.stream import Scorer

    assert ThinkBudget().convert("authors", None, None) == "authors"
    assert ThinkBudget().convert("12", None, None) == 12
    with pytest.raises(click.BadParameter):
        ThinkBudget().convert("-1", None, None)
    scorer = Scorer(None, JudgeOptions())
    assert scorer._options_for({"options": {"think_budget": "authors"}}).think_budget == "authors"


# -- 4. rubric variants -------------------------------------------------------------------------------

PAIR = {"prompt": "PROMPT", "response_a": "RESPONSE_A", "response_b": "RESPONSE_B"}
# judge-formats.md Appendix A.1, general.rubric_list[0] and [1] (VERBATIM).
GENERAL_0 = [
    ("Assistant A: Assistant A provides the better response overall, considering factors in this order — correctness, "
    "helpfulness, relevance, conciseness, creativity, and coverage."),
    ("Assistant B: Assistant B provides the better response overall, considering factors in this order — correctness, "
    "helpfulness, relevance, conciseness, creativity, and coverage."),
]
GENERAL_1 = [
    ("Assistant A: Assistant A delivers the stronger response overall, evaluated according to factors in this "
    "sequence — correctness, helpfulness, relevance, conciseness, creativity, and coverage."),
    ("Assistant B: Assistant B delivers the stronger response overall, evaluated according to factors in this "
    "sequence — correctness, helpfulness, relevance, conciseness, creativity, and coverage."),
]


def rubric_block(text: str) -> str:
    return text.split("# Evaluation Rubric\n    ", 1)[1].split("\n\n    # Response Format", 1)[0]


def test_variant_counts_match_the_authors_draw():
    fmt = Format("mr3")
    counts = {}
    for name, record in [("pairwise", {"task": "pairwise", **PAIR}), ("arena", {"task": "arena", **PAIR}),
                         ("strength", {"task": "strength", **PAIR}),
                         ("binary", {"task": "binary", "prompt": "P", "response": "R"}),
                         ("safety", {"task": "safety", "prompt": "P"}),
                         ("toxicity", {"task": "safety", "target": "toxicity", "prompt": "P", "response": "R"})]:
        rubric = fmt.rubric(make_item(record))
        counts[name] = rubric.count
    # The authors' counts (issue 12): 6 pairwise and safety, 72 arena, 3 strength, 2 binary; all of
    # them renderable (each against the authors' data: test_rubric_draw.py).
    assert counts == {"pairwise": 6, "arena": 72, "strength": 3, "binary": 2, "safety": 6, "toxicity": 6}


def test_variant_zero_is_the_default_render():
    fmt = Format("mr3")
    golden = (GOLDEN / "mr3-pairwise-general.txt").read_text(encoding="utf-8")
    assert fmt.render(make_item({"task": "pairwise", **PAIR, "rubric_variant": 0})) == golden
    assert rubric_block(golden) == "\n".join(GENERAL_0) + "\n"


@pytest.mark.parametrize("variant, lines", [
    (1, [GENERAL_0[1], GENERAL_0[0]]), (2, GENERAL_1), (3, [GENERAL_1[1], GENERAL_1[0]])])
def test_pairwise_variants_are_text_then_key_order(variant, lines):
    golden = (GOLDEN / "mr3-pairwise-general.txt").read_text(encoding="utf-8")
    expected = golden.replace("\n".join(GENERAL_0) + "\n", "\n".join(lines) + "\n")
    assert Format("mr3").render(make_item({"task": "pairwise", **PAIR, "rubric_variant": variant})) == expected


def test_arena_variants_are_every_key_order_in_permutation_order():
    fmt = Format("mr3")
    base = rubric_block(fmt.render(make_item({"task": "arena", **PAIR}))).splitlines()
    seen = set()
    for n, order in enumerate(itertools.permutations(range(4))):
        block = rubric_block(fmt.render(make_item({"task": "arena", **PAIR, "rubric_variant": n})))
        assert block == "".join(base[i] + "\n" for i in order)
        seen.add(block)
    assert len(seen) == 24
    assert all(nth_permutation(5, n) == p for n, p in enumerate(itertools.permutations(range(5))))


@pytest.mark.parametrize("record, variant, words", [
    ({"task": "arena", **PAIR}, 72, "out of range"),
    ({"task": "binary", "prompt": "P", "response": "R"}, 2, "out of range"),
    ({"task": "strength", **PAIR}, 3, "out of range"),
    ({"task": "safety", "prompt": "P"}, 6, "out of range"),
    ({"task": "pairwise", **PAIR, "rubric": "mine"}, 1, "given rubric"),
])
def test_variants_out_of_range_are_input_errors(record, variant, words):
    with pytest.raises(InputError, match=words) as info:
        Format("mr3").render(make_item({**record, "rubric_variant": variant}))
    assert info.value.code == "bad_value"


def test_binary_variant_one_puts_false_first_and_other_families_have_none():
    block = rubric_block(Format("mr3").render(make_item({"task": "binary", "prompt": "P", "response": "R",
                                                        "rubric_variant": 1})))
    # judge-formats.md A.4, rubric_list[0] with its two keys swapped.
    assert block == ("false: The given math solution is wrong.\n"
                     "true: The given math solution is correct.\n")
    with pytest.raises(InputError, match="no rubric variants"):
        Format("rmr1").render(make_item({"task": "pairwise", **PAIR, "rubric_variant": 1}))
    with pytest.raises(InputError):
        make_item({"task": "pairwise", **PAIR, "rubric_variant": -1})


def test_variant_samples_are_deterministic_and_distinct():
    first = sample(24, 8, seed=0, item_id="x")
    assert first == sample(24, 8, seed=0, item_id="x") and len(set(first)) == 8 and max(first) < 24
    assert {sample(24, 8, seed=s, item_id="x") for s in range(5)} != {first}
    assert sample(24, "all", seed=0, item_id="x") == tuple(range(24)) == sample(24, 99, seed=0, item_id="x")


def test_average_and_spread_on_known_probabilities():
    decisions = [Decision("A", {"A": 0.9, "B": 0.1}, 0.8), Decision("B", {"A": 0.4, "B": 0.6}, 0.6),
                 Decision("A", {"A": 0.8, "B": 0.2}, 0.7)]
    averaged = variants.average(decisions)
    assert averaged.verdict == "A" and averaged.probabilities == pytest.approx({"A": 0.7, "B": 0.3})
    assert averaged.label_mass == pytest.approx(0.7)


def test_averaging_over_variants_on_real_llama_cpp(family_judges):
    judge = family_judges["mr3"]
    record = {"task": "binary", "prompt": "2+2?", "response": "4"}
    # Logits differ by ~1e-5 between evaluation paths (KV reuse), hence abs=1e-3.
    options = {"think": False, "explain": False}
    results = [judge.judge({**record, "rubric_variant": n}, **options) for n in (0, 1)]
    assert "rubric_variant" not in results[0].provenance and results[1].provenance["rubric_variant"] == 1
    each = [r.probabilities for r in results]
    result = judge.judge(record, rubric_variants="all", **options)
    spread = result.extra["rubric_variants"]
    assert spread["variants"] == [0, 1] and spread["authors_count"] == 2
    for label in ("true", "false"):
        assert result.probabilities[label] == pytest.approx((each[0][label] + each[1][label]) / 2, abs=1e-3)
    top = result.verdict
    assert spread["min"] == pytest.approx(min(p[top] for p in each), abs=1e-3)
    assert spread["max"] == pytest.approx(max(p[top] for p in each), abs=1e-3)
    assert sum(spread["verdicts"].values()) == 2


def test_variant_errors_are_error_records_in_a_stream(family_judges):
    records = list(family_judges["mr3"].score_many([
        {"task": "arena", **PAIR, "rubric_variant": 72},
        {"task": "pairwise", **PAIR, "options": {"think_budget": "authors"}},
        {"task": "pairwise", **PAIR, "rubric": "mine", "options": {"rubric_variants": "all"}},
    ], think=False, explain=False))
    assert [r["status"] for r in records] == ["error", "error", "error"]
    assert [r["error"]["code"] for r in records] == ["bad_value"] * 3


# -- 7. unverified ------------------------------------------------------------------------------------

@pytest.mark.parametrize("family, record", [
    ("mr3", {"task": "mcq", "prompt": "Q", "choices": ["x", "y"]}),
    ("mr3", {"task": "safety", "target": "response", "prompt": "Q", "response": "R"}),
    ("mr3", {"task": "safety", "target": "toxicity", "prompt": "Q", "response": "R"}),
    ("rubricrm", {"task": "rubric", "prompt": "Q"}),
    ("rubricrm", {"task": "pairwise", **PAIR, "rubric": "R"}),
    ("rubricrm", {"task": "pairwise", "variant": "v1", **PAIR, "rubric": "R"}),
    ("refiner", {"task": "refine", "prompt": "Q", "response": "R"}),
])
def test_what_cannot_be_checked_is_labelled(family, record):
    note = Format(family).unverified(make_item(record))
    assert note and "\n" not in note


def test_verified_layouts_carry_no_label_and_labels_are_one_line():
    assert Format("mr3").unverified(make_item({"task": "pairwise", **PAIR})) == ""
    assert Format("rmr1").unverified(make_item({"task": "pairwise", **PAIR})) == ""
    text = "[family]\nname='x'\nchat='chatml'\nsource='s'\nunverified='''two\nlines'''\n[tasks]\n"
    with pytest.raises(RegistryError, match="one line"):
        spec.parse(text, "x.toml")


def test_prompt_command_says_what_is_unverified_on_stderr(run_cli):
    result = run_cli("prompt", "-m", "mr3-qwen3-4b", "--task", "mcq", "--prompt", "Q", "--option", "x",
                     "--option", "y", timeout=60)
    assert result.returncode == 0 and result.stdout.endswith(b"<think>")
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgejudge: unverified: ") and "options" in lines[0]
    result = run_cli("prompt", "-m", "mr3-qwen3-4b", "--prompt", "Q", "--response-a", "a", "--response-b", "b",
                     timeout=60)
    assert result.returncode == 0 and result.stderr == b""
