"""The engine on the real SmolLM2 GGUF: prefix reuse, label reads, constrained text, context limits."""

import numpy as np
import pytest

from edgejudge.backends.llama import sampling
from edgejudge.backends.llama.engine import Engine
from edgejudge.backends.llama.grammar import Grammar
from edgejudge.errors import ContextOverflow, GrammarError
from edgejudge.formats.gbnf import sentences_body
from edgejudge.plan import Append, Generate, Plan, ReadLabels

pytestmark = pytest.mark.model

CHAT = "<|im_start|>user\nWhich is larger, 7 or 9? Answer in one word.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture
def engine(smollm2_judge):
    eng = Engine(smollm2_judge.model)
    yield eng
    eng.close()


def plan(prompt, *steps):
    return Plan(((prompt, False),), steps)


def fresh_logprobs(model, tokens):
    """Next-token log-probabilities after ``tokens``, from a context that has seen nothing else."""
    eng = Engine(model)
    try:
        eng.reserve(len(tokens) + 8)
        eng.feed(tokens)
        return sampling.log_softmax(eng.logits())
    finally:
        eng.close()


def test_longest_common_prefix_is_reused(engine, smollm2_judge):
    model = smollm2_judge.model
    first = model.tokenize(CHAT + "The answer is")
    second = model.tokenize(CHAT + "I think")
    engine.reserve(256)
    assert engine.feed(first) == 0
    reused = engine.feed(second)
    common = next(i for i, (a, b) in enumerate(zip(first, second)) if a != b)
    assert reused == common > 10
    assert engine.tokens == second


def test_reused_prefix_gives_the_same_logits_as_a_fresh_context(engine, smollm2_judge):
    model = smollm2_judge.model
    engine.reserve(256)
    engine.feed(model.tokenize(CHAT + "Seven"))
    target = model.tokenize(CHAT + "Nine")
    engine.feed(target)
    np.testing.assert_allclose(sampling.log_softmax(engine.logits()), fresh_logprobs(model, target), atol=2e-2)


def test_multi_token_labels_are_read_where_they_diverge(engine, smollm2_judge):
    model = smollm2_judge.model
    labels = ("Assistant A", "Assistant B", "Tie", "Both Bad", "Both Good")
    context = CHAT + 'Verdict: "'
    outcome = engine.run(plan(context, ReadLabels("v", labels)))
    read = outcome.labels["v"]
    assert set(read.probabilities) == set(labels)
    assert sum(read.probabilities.values()) == pytest.approx(1.0)
    assert 0.0 < read.mass <= 1.0

    # Independent check: each label's probability as the product of the conditional
    # probabilities at its branching points, each computed in a fresh context.
    prompt = model.tokenize(context)
    paths = engine.label_paths(labels, context)
    assert len(paths["Assistant A"]) > 1 and paths["Both Bad"][0] == paths["Both Good"][0]
    scores = {}
    for label, path in paths.items():
        logp = 0.0
        for depth, token in enumerate(path):
            siblings = {p[depth] for p in paths.values() if len(p) > depth and p[:depth] == path[:depth]}
            if len(siblings) > 1:
                logp += fresh_logprobs(model, prompt + path[:depth])[token]
        scores[label] = logp
    total = sum(np.exp(v) for v in scores.values())
    for label in labels:
        assert read.probabilities[label] == pytest.approx(np.exp(scores[label]) / total, abs=2e-3)


def test_labels_where_one_is_a_prefix_of_another_use_the_terminator(engine):
    labels = tuple(str(n) for n in range(1, 11))
    outcome = engine.run(plan(CHAT + '{"score": "', ReadLabels("v", labels, terminator='"')))
    assert set(outcome.labels["v"].probabilities) == set(labels)
    with pytest.raises(GrammarError):
        engine.run(plan(CHAT + "Score: ", ReadLabels("v", labels)))


def test_label_reading_leaves_the_cache_at_the_prompt(engine, smollm2_judge):
    engine.run(plan(CHAT, ReadLabels("v", ("Seven", "Nine"))))
    assert engine.tokens == smollm2_judge.model.tokenize(CHAT)


def test_constrained_generation_follows_the_grammar(engine):
    grammar = 'root ::= ("nine" | "seven") "." "\\""\n'
    outcome = engine.run(plan(CHAT + '{"answer": "', Generate("answer", 16, grammar=grammar, stop=('"',))))
    assert outcome.texts["answer"] in ("nine.", "seven.")
    assert outcome.exhausted["answer"] is False


def test_budget_exhaustion_closes_the_text(engine, smollm2_judge):
    outcome = engine.run(plan(CHAT + '{"explanation": "',
                              Generate("e", 3, grammar=sentences_body(), stop=('"',), close='"'),
                              Append(', "verdict": "'), ReadLabels("v", ("nine", "seven"))))
    assert outcome.exhausted["e"] is True and outcome.generated_tokens == 3
    tail = smollm2_judge.model.detokenize(engine.tokens[-6:])
    assert tail.endswith('"verdict": "')


def test_grammar_is_checked_on_the_sampled_token_first(engine, monkeypatch):
    calls = {"allows": 0, "mask": 0}
    original_allows, original_mask = Grammar.allows, Grammar.mask

    def allows(self, token):
        calls["allows"] += 1
        return original_allows(self, token)

    def mask(self, logits):
        calls["mask"] += 1
        return original_mask(self, logits)

    monkeypatch.setattr(Grammar, "allows", allows)
    monkeypatch.setattr(Grammar, "mask", mask)
    outcome = engine.run(plan(CHAT + '{"explanation": "', Generate("e", 24, grammar=sentences_body(), stop=('"',))))
    # Every sampled token is checked alone; rejected ones are replaced by checking the next most
    # likely tokens one by one, so the full-vocabulary mask is never computed here.
    assert calls["allows"] >= outcome.generated_tokens > 0
    assert calls["mask"] == 0


def test_a_bad_grammar_is_an_error_not_a_crash(smollm2_judge):
    with pytest.raises(GrammarError):
        Grammar(smollm2_judge.model, "root ::= [unclosed")
    with pytest.raises(GrammarError):
        Grammar(smollm2_judge.model, "root ::= undefined-rule")


def test_every_format_grammar_compiles_against_the_real_vocabulary(smollm2_judge):
    from edgejudge.formats import spec
    from edgejudge.formats.gbnf import named

    used = set()
    for family in spec.FAMILY_FILES:
        for task in spec.load(family).tasks.values():
            used |= {task.explain_grammar, task.output_grammar}
    assert used - {""} == set(spec.GRAMMARS) - {""}  # every grammar a format names is in the list below
    for name in spec.GRAMMARS:
        if name:
            Grammar(smollm2_judge.model, named(name)).close()


def test_a_prompt_longer_than_the_trained_context_is_refused(engine):
    long_prompt = CHAT + "word " * 9000
    with pytest.raises(ContextOverflow) as info:
        engine.run(plan(long_prompt, ReadLabels("v", ("A", "B"))))
    assert "8192" in info.value.message


def test_context_is_sized_from_the_request(engine, smollm2_judge):
    outcome = engine.run(plan(CHAT, Generate("g", 40)))
    assert outcome.n_ctx <= 256
    big = engine.run(plan(CHAT + "word " * 600, ReadLabels("v", ("A", "B"))))
    assert 600 < big.n_ctx <= 1024


def test_greedy_resampling_after_a_rejection_equals_the_masked_argmax(smollm2_judge):
    from edgejudge.backends.llama.generation import _constrained_resample
    from edgejudge.store.registry import Sampling

    model = smollm2_judge.model
    grammar = Grammar(model, 'root ::= [0-9]+ "."\n')
    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(size=model.n_vocab).astype(np.float32)
        expected = int(np.argmax(grammar.mask(logits)))
        assert _constrained_resample(logits, grammar, Sampling(temperature=0.0), rng) == expected
    sampled = _constrained_resample(logits, grammar, Sampling(temperature=1.0), rng)
    assert grammar.allows(sampled)
    grammar.close()


def test_forced_text_is_evaluated_in_the_prompts_decode(engine, smollm2_judge, monkeypatch):
    """Appends and the labels' shared tokens go into one decode with the prompt, and the labels
    read there equal those read after evaluating each forced token on its own."""
    from edgejudge.backends.llama.context import Context

    model = smollm2_judge.model
    decodes = []
    original = Context._decode

    def counting(self, tokens, keep=1):
        decodes.append(len(tokens))
        return original(self, tokens, keep)

    monkeypatch.setattr(Context, "_decode", counting)
    labels = ("Assistant A", "Assistant B")
    steps = (Append("\n\nVerdict:"), Append(' "'), ReadLabels("v", labels))
    outcome = engine.run(plan(CHAT, *steps))
    assert len(decodes) == 1
    read = outcome.labels["v"]
    forced = model.tokenize(CHAT) + model.tokenize("\n\nVerdict:") + model.tokenize(' "')
    assert engine.tokens == forced  # the labels' tokens are gone again, the appends stay

    paths = engine.label_paths(labels, (CHAT + '\n\nVerdict: "')[-64:])
    shared = paths["Assistant A"][:-1]
    assert shared and paths["Assistant B"][:-1] == shared
    logp = fresh_logprobs(model, forced + shared)
    a, b = paths["Assistant A"][-1], paths["Assistant B"][-1]
    assert read.probabilities["Assistant A"] == pytest.approx(np.exp(logp[a]) / (np.exp(logp[a]) + np.exp(logp[b])),
                                                              abs=1e-3)
    shared_logp = sum(fresh_logprobs(model, forced + shared[:i])[t] for i, t in enumerate(shared))
    assert read.mass == pytest.approx(np.exp(shared_logp + np.logaddexp(logp[a], logp[b])), abs=1e-3)
