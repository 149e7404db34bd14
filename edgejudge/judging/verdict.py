"""The verdict: one schema for every family and task, in the CLI, JSONL mode and the API.

``id``, ``task``, ``verdict`` (the chosen label, normalised: ``A``/``B``, ``tie``/``both_bad``,
``true``/``false``, a score as text, an option letter; ``null`` for rubric and refine),
``score`` (the number, for scored tasks), ``probabilities`` (label → probability, from the logits,
summing to 1), ``label_mass`` (how much probability the label set held before renormalising),
``raw_probabilities`` and ``calibration`` (only when a stored calibration changed the
probabilities: the model's own, and which fit did it), ``explanation``, ``reasoning`` (when kept),
``think_tokens``, ``swap`` (both orders, with ``--swap``), ``think_exit`` and ``probes`` (how
reasoning ended, the trial verdicts read during it: docs/anytime.md), task-specific fields
(``expected_score``, ``rubric``, ``refined``; on guard verdicts ``severity``,
``severity_probabilities``, ``policy``, ``categories`` and ``refusal``; ``rewards``, each response's raw reward, from a scalar reward model,
whose pairwise ``probabilities`` are σ(r_A − r_B) and whose pointwise ``score`` is the reward, with
no ``verdict``), ``model``,
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

# Every "status" a record written by edgejudge can carry, and what it means. This is the one list:
# --resume (streams/resume.py) and the verdict files of eval/calibrate (trust/verdict_files.py)
# accept exactly these, so a new kind of record is one line here (and docs/verdicts.md).
STATUSES = {
    "ok": "a verdict",
    "error": "no verdict; the record's error object says why",
    "abstain": "probabilities but no verdict: no stage was confident enough (--abstain-below, --target-error)",
}


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
    think_exit: str | None = None
    probes: list[dict] | None = None
    swap: dict | None = None
    extra: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    # Set by a stored calibration (trust/store.py): the model's own probabilities, and the fit.
    raw_probabilities: dict[str, float] | None = None
    calibration: dict | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "task": self.task,
            "verdict": self.verdict,
            "score": self.score,
            "probabilities": _rounded(self.probabilities),
            **({} if self.raw_probabilities is None else {"raw_probabilities": _rounded(self.raw_probabilities)}),
            **({} if self.calibration is None else {"calibration": self.calibration}),
            "label_mass": None if self.label_mass is None else round(self.label_mass, DIGITS),
            "explanation": self.explanation,
            "reasoning": self.reasoning,
            "think_tokens": self.think_tokens,
            "think_exit": self.think_exit,
            "probes": self.probes,
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
        think_exit=decision.think_exit,
        probes=rounded_probes(decision.probes),
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
                        reasoning=first.reasoning, extra=extra, think_exit=first.think_exit, probes=first.probes)
    orders: list[dict[str, object]] = [
        {"order": "as given", "verdict": first.verdict, "probabilities": _rounded(first.probabilities),
         "explanation": first.explanation},
        {"order": "swapped", "verdict": second_verdict, "probabilities": _rounded(back),
         "explanation": second.explanation},
    ]
    # Each order reasons on its own, so each has its own exit and probes (the swapped order's in
    # the original order's labels, as its verdict and probabilities are).
    for order, decision in zip(orders, (first, second)):
        if decision.think_exit is not None:
            probes = decision.probes or []
            if decision is second:
                probes = [{"at": p["at"], "probabilities": {unswap_label(task, k): v
                                                             for k, v in p["probabilities"].items()}} for p in probes]
            order.update(think_tokens=decision.think_tokens, think_exit=decision.think_exit,
                         probes=rounded_probes(probes))
    swap = {
        "agree": agree,
        # A tie made of a disagreement is not a label the reads gave a probability to; its
        # confidence is the probability of what it reports: the two reads, drawn from each
        # order's distribution, disagree.
        **({"tie_confidence": round(1.0 - sum(first.probabilities[k] * back[k] for k in labels), DIGITS)}
           if verdict == "tie" and not agree else {}),
        "orders": orders,
    }
    return combined, swap


def rounded_probes(probes: list[dict] | None) -> list[dict] | None:
    if probes is None:
        return None
    return [{"at": p["at"], "probabilities": _rounded(p["probabilities"])} for p in probes]


def rounded(probabilities: dict[str, float]) -> dict[str, float]:
    """Probabilities as every record shows them (see :func:`_rounded`)."""
    return _rounded(probabilities)


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
