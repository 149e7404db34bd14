"""The verdict: one schema for every family and task, in the CLI, JSONL mode and the API.

Fields (see the README for the full description):

``id``, ``task``, ``verdict`` (the chosen label), ``score`` (the number, for scored tasks),
``probabilities`` (label → probability, from the logits, summing to 1), ``label_mass`` (how much
probability the label set held before renormalising), ``explanation``, ``reasoning`` (when kept),
``think_tokens``, ``swap`` (both orders, when judged with ``--swap``), ``model`` (id, quant,
sha256, family), ``provenance`` and ``timings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgejudge.formats import Decision
from edgejudge.items import Item
from edgejudge.plan import Outcome


@dataclass
class Verdict:
    task: str
    verdict: str
    probabilities: dict[str, float]
    label_mass: float
    model: dict
    id: str | int | None = None
    score: int | float | None = None
    explanation: str = ""
    reasoning: str | None = None
    think_tokens: int = 0
    swap: dict | None = None
    extra: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        record = {
            "id": self.id,
            "task": self.task,
            "verdict": self.verdict,
            "score": self.score,
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "label_mass": round(self.label_mass, 6),
            "explanation": self.explanation,
            "reasoning": self.reasoning,
            "think_tokens": self.think_tokens,
            "swap": self.swap,
            **self.extra,
            "model": self.model,
            "provenance": self.provenance,
            "timings": self.timings,
        }
        return record


def timings_of(outcome: Outcome) -> dict:
    return {
        **{k: round(v, 4) for k, v in outcome.timings.items()},
        "prompt_tokens": outcome.prompt_tokens,
        "reused_tokens": outcome.reused_tokens,
        "generated_tokens": outcome.generated_tokens,
        "n_ctx": outcome.n_ctx,
    }


def make(item: Item, decision: Decision, outcome: Outcome, model: dict, provenance: dict) -> Verdict:
    return Verdict(
        id=item.id,
        task=item.task,
        verdict=decision.verdict,
        score=decision.score,
        probabilities=decision.probabilities,
        label_mass=decision.label_mass,
        explanation=decision.explanation,
        reasoning=decision.reasoning,
        think_tokens=outcome.think_tokens,
        extra=dict(decision.extra),
        model=model,
        provenance=provenance,
        timings=timings_of(outcome),
    )
