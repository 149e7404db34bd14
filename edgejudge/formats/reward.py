"""Scalar reward models (the ``reward`` family): conversations in, Bradley-Terry verdicts out.

A reward model reads no judging prompt. Each response is scored in its own conversation (the
item's prompt, or its conversation, then the response as the assistant's message), rendered by the
model's own chat template with no generation prompt and without a leading BOS text, as the
authors' usage code does (``formats/reward.toml`` cites it); the tokenizer then adds a BOS only
where it adds one (Qwen3's adds none). The reward is read at the last token of that text: for
Qwen3's template the ``\\n`` after the final ``<|im_end|>``, which is the last non-padding token
transformers' ``Qwen3ForSequenceClassification`` pools.

User data goes into the template as slots (``plan.slot``), so it stays inert text: a response
holding ``<|im_end|>`` cannot end its own turn. The template sees the slot, not the text, so
template logic that inspects a message's content does not run on it (Qwen3's template would move
a ``<think>…</think>`` block written in an assistant message into its reasoning block); for every
other response the text is byte for byte what ``apply_chat_template`` writes.

Pairwise: ``probabilities`` = σ(r_A − r_B) for A, and ``rewards`` holds both. Pointwise: ``score``
is the raw reward (unbounded; the item's scale is not used) and there is no verdict label.
"""

from __future__ import annotations

import math

from edgejudge.errors import InputError
from edgejudge.formats import render
from edgejudge.formats.format import Format
from edgejudge.formats.options import Decision, JudgeOptions
from edgejudge.items import Item
from edgejudge.plan import Outcome, RewardPlan, Segment, fill, slot

FAMILY = "reward"


def format_class(family: str) -> type[Format]:
    """The class that renders ``family``'s prompts: :class:`RewardFormat` for reward models."""
    return RewardFormat if family == FAMILY else Format


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class RewardFormat(Format):
    """The reward family: conversations for the model's template, and Bradley-Terry decisions."""

    def conversations(self, item: Item) -> tuple[tuple[str, tuple[dict, ...]], ...]:
        """(name, messages) to score: A and B for pairwise, ``response`` for pointwise."""
        self.variant(item, self.task(item))
        if item.conversation_a or item.conversation_b:
            sides = (("A", item.conversation_a), ("B", item.conversation_b))
            for name, messages in sides:
                if not messages or messages[-1]["role"] != "assistant":
                    raise InputError(f"conversation_{name.lower()} must end with the assistant's message "
                                     "(the response the reward model scores)", code="bad_value")
            return tuple((name, tuple(messages)) for name, messages in sides)
        context = tuple(item.conversation) or ({"role": "user", "content": item.prompt},)
        if item.task == "pairwise":
            return (("A", context + ({"role": "assistant", "content": item.response_a},)),
                    ("B", context + ({"role": "assistant", "content": item.response_b},)))
        return (("response", context + ({"role": "assistant", "content": item.response},)),)

    def _sequence(self, messages: tuple[dict, ...]) -> tuple[Segment, ...]:
        slots = [{"role": m["role"], "content": slot(f"m{i}")} for i, m in enumerate(messages)]
        assert self.chat_template is not None  # Format.__init__ requires it for a gguf-chat family
        text = render.gguf_conversation(self.chat_template, slots, bos=self.bos, eos=self.eos)
        if self.bos and text.startswith(self.bos):
            text = text[len(self.bos):]  # as the authors: the tokenizer adds its own BOS, if any
        return fill(text, {f"m{i}": m["content"] for i, m in enumerate(messages)})

    def plan(self, item: Item, options: JudgeOptions) -> RewardPlan:  # type: ignore[override]
        if item.rubric is not None or item.rubric_variant is not None:
            raise InputError("a reward model takes no rubric: it scores the conversation as it is",
                             code="bad_value", hint="leave out rubric / rubric_variant, or use a judge model")
        return RewardPlan(tuple((name, self._sequence(messages)) for name, messages in self.conversations(item)))

    def render(self, item: Item) -> str:
        """The conversations the model reads, one after the other (each is scored on its own)."""
        plan = self.plan(item, JudgeOptions())
        return "".join(plan.text(name) for name, _ in plan.sequences)

    def decide(self, item: Item, outcome: Outcome, options: JudgeOptions) -> Decision:
        rewards = outcome.rewards
        if item.task == "pairwise":
            p_a = sigmoid(rewards["A"] - rewards["B"])
            probabilities = {"A": p_a, "B": 1.0 - p_a}
            verdict = "A" if p_a >= 0.5 else "B"
            return Decision(verdict, probabilities, None,
                            extra={"rewards": {"A": round(rewards["A"], 6), "B": round(rewards["B"], 6)}})
        return Decision(None, {}, None, score=round(rewards["response"], 6))
