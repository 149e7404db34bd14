"""The verdict: one schema for every family and task, in the CLI, JSONL mode and the API.

``id``, ``task``, ``verdict`` (the chosen label, normalised: ``A``/``B``, ``tie``/``both_bad``,
``true``/``false``, a score as text, an option letter; ``null`` for rubric and refine),
``score`` (the number, for scored tasks), ``probabilities`` (label → probability, from the logits,
summing to 1), ``label_mass`` (how much probability the label set held before renormalising),
``explanation``, ``reasoning`` (when kept), ``think_tokens``, ``swap`` (both orders, with
``--swap``), task-specific fields (``expected_score``, ``rubric``, ``refined``; ``rewards``, each
response's raw reward, from a scalar reward model, whose pairwise ``probabilities`` are
σ(r_A − r_B) and whose pointwise ``score`` is the reward, with no ``verdict``), ``model``,
``provenance`` and ``timings`` (seconds and token counts; ``prefix_cache`` is ``hit``, ``miss`` or
``off`` and ``prefix_cache_tokens`` counts the tokens loaded from the prefix cache file).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field

from edgejudge.formats import Decision
from edgejudge.items import Item
from edgejudge.plan import Outcome

DIGITS = 6  # probabilities are rounded once, here, so the API and the CLI show the same numbers


@dataclass
class Verdict:
    task: str
    verdict: str | None
    probabilities: dict[str, float]
    label_mass: float | None
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
        return {
            "id": self.id,
            "task": self.task,
            "verdict": self.verdict,
            "score": self.score,
            "probabilities": _rounded(self.probabilities),
            "label_mass": None if self.label_mass is None else round(self.label_mass, DIGITS),
            "explanation": self.explanation,
            "reasoning": self.reasoning,
            "think_tokens": self.think_tokens,
            "swap": self.swap,
            **self.extra,
            "model": self.model,
            "provenance": self.provenance,
            "timings": self.timings,
        }


def timings_of(*outcomes: Outcome) -> dict:
    total: dict[str, float] = {}
    for outcome in outcomes:
        for key, value in outcome.timings.items():
            total[key] = total.get(key, 0.0) + value
    return {
        **{k: round(v, 4) for k, v in total.items()},
        "prompt_tokens": sum(o.prompt_tokens for o in outcomes),
        "reused_tokens": sum(o.reused_tokens for o in outcomes),
        "generated_tokens": sum(o.generated_tokens for o in outcomes),
        "n_ctx": max(o.n_ctx for o in outcomes),
        "prefix_cache": _cache_status(o.prefix_cache for o in outcomes),
        "prefix_cache_tokens": sum(o.prefix_cache_tokens for o in outcomes),
    }


def _cache_status(statuses) -> str:
    """One status for the outcomes of a verdict: miss if any evaluated its head, else hit if any
    used the cache, else off."""
    seen = set(statuses)
    return "miss" if "miss" in seen else "hit" if "hit" in seen else "off"


def make(item: Item, decision: Decision, outcomes: list[Outcome], model: dict, provenance: dict,
         swap: dict | None = None) -> Verdict:
    return Verdict(
        id=item.id,
        task=item.task,
        verdict=decision.verdict,
        score=decision.score,
        probabilities=_rounded(decision.probabilities),
        label_mass=None if decision.label_mass is None else round(decision.label_mass, DIGITS),
        explanation=decision.explanation,
        reasoning=decision.reasoning,
        think_tokens=sum(o.think_tokens for o in outcomes),
        swap=swap,
        extra=dict(decision.extra),
        model=model,
        provenance=provenance,
        timings=timings_of(*outcomes),
    )


def unswap_label(task: str, label: str) -> str:
    """The label of the swapped order in the original order's terms."""
    if task == "strength":
        return str(8 - int(label))  # 1 = "Response 1 far superior" ... 7, mirrored
    return {"A": "B", "B": "A"}.get(label, label)


def combine_swap(task: str, first: Decision, second: Decision, *, tie_on_disagreement: bool) -> tuple[Decision, dict]:
    """Combine a decision and the decision on the swapped item into one (mean of the two
    distributions, in the first order's labels); report both and whether they agreed."""
    mapped = {unswap_label(task, label): p for label, p in second.probabilities.items()}
    labels = list(first.probabilities)
    back = {label: mapped.get(label, 0.0) for label in labels}
    probabilities = {label: (first.probabilities[label] + back[label]) / 2 for label in labels}
    second_verdict = unswap_label(task, second.verdict) if second.verdict is not None else None
    agree = first.verdict == second_verdict
    verdict = max(probabilities, key=probabilities.__getitem__)
    if not agree and tie_on_disagreement:
        verdict = "tie"
    mass = None
    if first.label_mass is not None and second.label_mass is not None:
        mass = (first.label_mass + second.label_mass) / 2
    extra = dict(first.extra)
    score = first.score
    if first.score is not None and verdict != "tie":
        score = int(verdict)
        extra["expected_score"] = round(sum(int(k) * p for k, p in probabilities.items()), 4)
    combined = Decision(verdict, probabilities, mass, score=score, explanation=first.explanation,
                        reasoning=first.reasoning, extra=extra)
    swap = {
        "agree": agree,
        "orders": [
            {"order": "as given", "verdict": first.verdict, "probabilities": _rounded(first.probabilities),
             "explanation": first.explanation},
            {"order": "swapped", "verdict": second_verdict, "probabilities": _rounded(back),
             "explanation": second.explanation},
        ],
    }
    return combined, swap


def _rounded(probabilities: dict[str, float]) -> dict[str, float]:
    """Probabilities to ``DIGITS`` places that still sum to 1: rounding each on its own can leave
    the sum a few units of the last place off, so the units lost or gained are given to the labels
    whose values were cut the most (largest remainder)."""
    scale = 10 ** DIGITS
    units = {k: math.floor(v * scale) for k, v in probabilities.items()}
    short = scale - sum(units.values())
    if not probabilities or abs(sum(probabilities.values()) - 1.0) > 1e-3 or not 0 <= short <= len(units):
        return {k: round(v, DIGITS) for k, v in probabilities.items()}
    cut = sorted(probabilities, key=lambda k: probabilities[k] * scale - units[k], reverse=True)
    for k in cut[:short]:
        units[k] += 1
    return {k: units[k] / scale for k in probabilities}
