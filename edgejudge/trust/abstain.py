"""When to answer: a fixed probability floor, or a threshold chosen for a target error rate.

``--target-error ALPHA`` follows "Trust or Escalate" (Jung et al., ICLR 2025, arXiv 2407.18370):
on a calibration set of (confidence, correct, cluster, item) entries, candidate thresholds are
tested from the highest to the lowest, each for the null hypothesis "the error rate on the items at
or above it exceeds ALPHA" at level δ; the scan stops at the first threshold that fails, and the
lowest one that passed is used. Fixed-sequence testing needs no multiple-testing correction, so
with probability at least 1 − δ the error on the items answered stays at or below ALPHA (for items
exchangeable with those of the calibration set).

The unit of each test is the independent item, the cluster (both orders of a pair, rubric
variants: :mod:`~edgejudge.trust.clusters`): the exact binomial (Clopper-Pearson) test when every
item is its own cluster, else the Hoeffding-Bentkus test on the clusters' error shares, which is
valid however the records of a cluster depend on each other. A cascade tests stage k on the items
the stages before it escalate, each stage at δ / K (:func:`cascade_thresholds`).

The top thresholds keep only a few clusters, and a test on fewer than ``min_items(ALPHA, δ)``
cannot pass even with no error; the scan starts at the first threshold keeping that many, rather
than stopping at once on a level no data could ever pass.
"""

from __future__ import annotations

import functools
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
    """The fewest independent items (clusters) on which an error rate <= alpha can be shown at
    level delta, with no error at all."""
    return math.ceil(math.log(delta) / math.log1p(-alpha)) if alpha < 1 else 1


@functools.lru_cache(maxsize=4096)
def _fewest_passing(errors: int, alpha: float, level: float) -> int:
    """The smallest n with P(Bin(n, alpha) <= errors) <= level (the binomial cdf falls with n)."""
    lo = hi = max(errors + 1, 1)
    while binom_cdf(errors, hi, alpha) > level:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if binom_cdf(errors, mid, alpha) > level:
            lo = mid + 1
        else:
            hi = mid
    return hi


def binomial_passes(errors: int, n: int, alpha: float, delta: float) -> bool:
    """The exact (Clopper-Pearson) test: is the upper bound on the error rate <= alpha?"""
    return n > 0 and n >= _fewest_passing(errors, alpha, delta)


def _kl(a: float, b: float) -> float:
    """KL(Bernoulli(a) || Bernoulli(b)), with 0 log 0 = 0."""
    out = 0.0
    if a > 0:
        out += a * math.log(a / b)
    if a < 1:
        out += (1 - a) * math.log((1 - a) / (1 - b))
    return out


def hoeffding_bentkus_passes(mean: float, m: int, alpha: float, delta: float) -> bool:
    """The Hoeffding-Bentkus test (Bates et al. 2021, "Distribution-free, risk-controlling
    prediction sets", Prop. 3) that m i.i.d. [0, 1]-valued losses of sample mean ``mean`` have an
    expectation <= alpha: its p-value min(exp(-m KL(min(mean, alpha) || alpha)),
    e P(Bin(m, alpha) <= ceil(m mean))) must be <= delta."""
    if m <= 0:
        return False
    mean = min(max(mean, 0.0), 1.0)
    if math.exp(-m * _kl(min(mean, alpha), alpha)) <= delta:
        return True
    return m >= _fewest_passing(math.ceil(m * mean - 1e-9), alpha, delta / math.e)


def target_threshold(confidence: Sequence[float], correct: Sequence[bool], alpha: float,
                     delta: float = DEFAULT_DELTA, clusters: Sequence | None = None) -> float | None:
    """The lowest confidence threshold that passes fixed-sequence testing (None: none passes,
    so every item must be abstained on).

    ``clusters`` names each item's cluster: items that are not independent (both orders of a pair,
    rubric variants of one item). Without it, or when no cluster holds two items, each test is the
    exact binomial one on the answered items. Otherwise the unit is the cluster: at a threshold,
    each cluster with an answered item has the error r = (its wrong answered items) / (its answered
    items), in [0, 1], and the Hoeffding-Bentkus test bounds the mean of r over the answered
    clusters. Entries whose confidence is not a finite number are left out."""
    keep = [i for i, c in enumerate(confidence)
            if isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)]
    if not keep:
        return None
    conf = [float(confidence[i]) for i in keep]
    wrong = [not correct[i] for i in keep]
    names = list(range(len(keep))) if clusters is None else [clusters[i] for i in keep]
    singletons = len(set(names)) == len(names)
    order = sorted(range(len(conf)), key=lambda i: -conf[i])
    floor = min_items(alpha, delta)
    answered: dict = {}  # cluster -> [answered items, wrong ones]
    items = errors = 0
    error_sum = 0.0  # the sum over answered clusters of r
    chosen = None
    position = 0
    while position < len(order):
        level = conf[order[position]]
        while position < len(order) and conf[order[position]] == level:  # equal confidences go together
            i = order[position]
            k, e = answered.get(names[i], (0, 0))
            if k:
                error_sum -= e / k
            k, e = k + 1, e + wrong[i]
            answered[names[i]] = (k, e)
            error_sum += e / k
            items += 1
            errors += wrong[i]
            position += 1
        if len(answered) < floor:
            continue
        if singletons:
            passes = binomial_passes(errors, items, alpha, delta)
        else:
            passes = hoeffding_bentkus_passes(error_sum / len(answered), len(answered), alpha, delta)
        if not passes:
            break
        chosen = level
    return chosen


def cascade_thresholds(stage_sets: Sequence[Sequence[Sequence]], alpha: float, delta: float = DEFAULT_DELTA,
                       *, stages: int | None = None) -> list[float | None]:
    """Thresholds for the stages of a cascade, as Trust or Escalate (Jung et al., ICLR 2025) sets
    them: stage k's on the calibration items that the stages before it escalate (its set's entries
    ``[confidence, correct, cluster, item]`` whose ``item`` every earlier stage left below its
    threshold), each at level delta / K, so that all K stages hold together with probability at
    least 1 - delta (a union bound) and the answered items' error, a mixture of the stages', stays
    at or below alpha. ``stages``: K, when only the first stages' sets are given."""
    level = delta / max(1, stages or len(stage_sets))
    escalated: set | None = None
    out: list[float | None] = []
    for entries in stage_sets:
        rows = [e for e in entries if escalated is None or e[3] in escalated]
        threshold = target_threshold([e[0] for e in rows], [bool(e[1]) for e in rows], alpha, level,
                                     [e[2] for e in rows])
        out.append(threshold)
        below = {e[3] for e in rows if threshold is None or e[0] < threshold}
        escalated = below
    return out


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
