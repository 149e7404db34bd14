"""When to answer: a fixed probability floor, or a threshold chosen for a target error rate.

``--target-error ALPHA`` follows "Trust or Escalate" (Jung et al., 2024, arXiv 2407.18370): on a
calibration set of (confidence, correct) pairs, candidate thresholds are tested from the highest
to the lowest, each for the null hypothesis "the error rate on the items at or above it exceeds
ALPHA", with the exact binomial (Clopper-Pearson) upper confidence bound at level δ; the scan stops
at the first threshold that fails, and the lowest one that passed is used. Fixed-sequence testing
needs no multiple-testing correction, so with probability at least 1 − δ the error on the items
answered stays at or below ALPHA (for items like those of the calibration set).

The top thresholds keep only a few items, and a test on fewer than ``min_items(ALPHA, δ)`` items
cannot pass even with no error; the scan starts at the first threshold keeping that many, rather
than stopping at once on a level no data could ever pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from edgejudge.errors import UsageError

DEFAULT_DELTA = 0.1


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n:
        return 1.0
    terms = [_log_binom_pmf(i, n, p) for i in range(k + 1)]
    top = max(terms)
    if top == -math.inf:
        return 0.0
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def clopper_pearson_upper(errors: int, n: int, delta: float) -> float:
    """The exact one-sided upper bound on an error rate: the p with P(Bin(n, p) <= errors) = delta."""
    if n == 0 or errors >= n:
        return 1.0
    lo, hi = errors / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if binom_cdf(errors, n, mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def min_items(alpha: float, delta: float) -> int:
    """The fewest items on which an error rate <= alpha can be shown at level delta (no errors)."""
    return math.ceil(math.log(delta) / math.log1p(-alpha)) if alpha < 1 else 1


def target_threshold(confidence: Sequence[float], correct: Sequence[bool], alpha: float,
                     delta: float = DEFAULT_DELTA) -> float | None:
    """The lowest confidence threshold that passes fixed-sequence testing (None: none passes,
    so every item must be abstained on)."""
    pairs = sorted(zip(confidence, correct), key=lambda pair: -pair[0])
    floor = min_items(alpha, delta)
    chosen = None
    kept = errors = 0
    i = 0
    while i < len(pairs):
        level = pairs[i][0]
        while i < len(pairs) and pairs[i][0] == level:  # every item at this confidence is kept together
            kept += 1
            errors += not pairs[i][1]
            i += 1
        if kept < floor:
            continue
        if clopper_pearson_upper(errors, kept, delta) <= alpha:
            chosen = level
        else:
            break
    return chosen


@dataclass(frozen=True)
class Policy:
    """When a stage answers: at or above ``abstain_below``, or at or above the threshold that
    ``target_error`` (with ``delta``) gives on the stage's calibration set."""

    abstain_below: float | None = None
    target_error: float | None = None
    delta: float = DEFAULT_DELTA

    def __post_init__(self):
        if self.abstain_below is not None and self.target_error is not None:
            raise UsageError("give --abstain-below or --target-error, not both")
        if self.abstain_below is not None and not 0.0 <= self.abstain_below <= 1.0:
            raise UsageError("--abstain-below is a probability between 0 and 1")
        if self.target_error is not None and not 0.0 < self.target_error < 1.0:
            raise UsageError("--target-error is an error rate between 0 and 1 (exclusive)")
        if not 0.0 < self.delta < 1.0:
            raise UsageError("--delta is a probability between 0 and 1 (exclusive)")

    @property
    def active(self) -> bool:
        return self.abstain_below is not None or self.target_error is not None

    def describe(self) -> dict:
        if self.target_error is not None:
            return {"target_error": self.target_error, "delta": self.delta}
        return {"abstain_below": self.abstain_below}
