"""Judge formats: how each judge family is prompted and how its answer becomes a verdict.

A format is pure text work (no llama.cpp): it renders the exact prompt for an item, declares the
labels and the native verdict prefix, the grammar of any free text, and turns an engine
:class:`~edgejudge.plan.Outcome` into verdict fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from edgejudge.errors import InputError
from edgejudge.items import Item
from edgejudge.plan import Outcome, Plan
from edgejudge.registry import Sampling


@dataclass(frozen=True)
class JudgeOptions:
    """How to judge, whatever the family: explanation, reasoning budget, swap, seed."""

    explain: bool = True
    max_explain_tokens: int = 96
    think: bool | None = None
    think_budget: int | None = None
    keep_reasoning: bool = False
    swap: bool = False
    tie_on_disagreement: bool = False
    seed: int = 0
    sampling: Sampling | None = None

    def __post_init__(self):
        if self.max_explain_tokens < 1:
            raise InputError("max_explain_tokens must be at least 1", code="bad_value")
        if self.think_budget is not None and self.think_budget < 0:
            raise InputError("think_budget must not be negative", code="bad_value")


@dataclass(frozen=True)
class Decision:
    """The verdict fields a format derives from an outcome."""

    verdict: str
    probabilities: dict[str, float]
    label_mass: float
    score: int | float | None = None
    explanation: str = ""
    reasoning: str | None = None
    extra: dict = field(default_factory=dict)


class Format:
    """Base class of the judge formats."""

    family = ""
    tasks: tuple[str, ...] = ()

    def plan(self, item: Item, options: JudgeOptions) -> Plan:
        raise NotImplementedError

    def decide(self, item: Item, outcome: Outcome, options: JudgeOptions) -> Decision:
        raise NotImplementedError

    def template_text(self) -> str:
        """Every fixed string the prompts are built from; its hash identifies the prompt version."""
        raise NotImplementedError

    def template_sha256(self) -> str:
        return hashlib.sha256(self.template_text().encode("utf-8")).hexdigest()

    def check_task(self, item: Item) -> None:
        if item.task not in self.tasks:
            raise InputError(
                f"the {self.family} format does not do the task {item.task!r}",
                code="unsupported_task", hint=f"this model does: {', '.join(self.tasks)}",
            )
