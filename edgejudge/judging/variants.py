"""A verdict averaged over mR3's rubric variants, with its spread.

The authors' evaluation draws one rubric variant per item at random (formats/rubrics.py), so what it
measured is, in expectation, the verdict averaged over the variants. ``rubric_variants`` judges the
item once per variant (all of them, or a sample drawn with the seed) and averages the label
probabilities; the spread (the lowest and highest probability of the chosen label across variants)
shows how much the verdict depends on the rubric's wording and order. It costs one judgment per
variant, reasoning included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from edgejudge.errors import InputError
from edgejudge.formats import Decision, Format, JudgeOptions
from edgejudge.formats.rubrics import sample
from edgejudge.items import Item
from edgejudge.plan import Outcome

Once = Callable[[Item, JudgeOptions], tuple[Decision, list[Outcome], dict | None]]


def chosen(fmt: Format, item: Item, options: JudgeOptions) -> tuple[int, ...]:
    """The variants to judge ``item`` with, after checking that averaging applies to it."""
    if options.rubric_variant is not None or item.rubric_variant is not None:
        raise InputError("give either rubric_variant (one variant) or rubric_variants (an average), not both",
                         code="bad_value")
    rubric = fmt.rubric(item)
    if not rubric.keys:
        raise InputError(f"the {fmt.family} {item.task} prompt has no rubric variants to average over",
                         code="bad_value", hint="rubric variants are mR3's (pairwise, arena, strength, binary, safety)")
    if item.rubric is not None:
        raise InputError("rubric_variants averages over the built-in rubrics; this item gives its own rubric",
                         code="bad_value", hint="leave rubric_variants out for items with a rubric")
    wanted = options.rubric_variants if options.rubric_variants is not None else "all"
    return sample(rubric.count, wanted, seed=options.seed, item_id=item.id)


def judge(fmt: Format, item: Item, options: JudgeOptions, once: Once) -> tuple[Decision, list[Outcome], dict | None]:
    """Judge ``item`` with each chosen variant (``once`` judges one) and average."""
    numbers = chosen(fmt, item, options)
    runs = [once(replace(item, rubric_variant=n), options) for n in numbers]
    decisions = [decision for decision, _, _ in runs]
    outcomes = [outcome for _, found, _ in runs for outcome in found]
    swaps = [swap for _, _, swap in runs]
    decision = average(decisions)
    top = decision.verdict or ""
    spread: dict[str, object] = {
        "variants": list(numbers),
        "authors_count": fmt.rubric(item).count,
        "verdicts": dict(Counter(d.verdict for d in decisions)),
        "top_label": decision.verdict,
        "min": round(min(d.probabilities[top] for d in decisions), 6),
        "max": round(max(d.probabilities[top] for d in decisions), 6),
    }
    if swaps[0] is not None:
        spread["swap_agree"] = [swap["agree"] for swap in swaps if swap is not None]
    return replace(decision, extra={**decision.extra, "rubric_variants": spread}), outcomes, swaps[0]


def average(decisions: list[Decision]) -> Decision:
    """The mean of the decisions' label distributions; explanation and reasoning of the first."""
    first = decisions[0]
    labels = list(first.probabilities)
    probabilities = {label: sum(d.probabilities.get(label, 0.0) for d in decisions) / len(decisions)
                     for label in labels}
    verdict = max(probabilities, key=probabilities.__getitem__)
    masses = [d.label_mass for d in decisions if d.label_mass is not None]
    mass = sum(masses) / len(masses) if len(masses) == len(decisions) else None
    extra = dict(first.extra)
    score = first.score
    if first.score is not None:
        score = int(verdict)
        extra["expected_score"] = round(sum(int(k) * p for k, p in probabilities.items()), 4)
    return Decision(verdict, probabilities, mass, score=score, explanation=first.explanation,
                    reasoning=first.reasoning, extra=extra, think_exit=first.think_exit, probes=first.probes)
