"""Synthetic calibration sets for checking the ``--target-error`` guarantee by simulation.

A scenario draws items from a known judge: each item's confidence and whether its verdict is right.
The judge is mostly confident (confidence 0.5 + Beta(3, 1) / 2) and overconfident (accuracy at
confidence c is c - 0.03), so the threshold matters. Scenarios:

- ``independent``: every item its own cluster;
- ``pairs``: each pair judged in both orders (two items, one cluster); the orders' confidences are
  close and, with probability ``agree``, both verdicts are right or both wrong together;
- ``cascade``: two stages (a quick read, then a stronger one: thinking or another judge); items hard
  for the first stage are hard for the second too.

``risk`` gives the true error rate on the answered items of a threshold (or of a cascade's
thresholds), on a large population drawn from the same scenario. ``violation_rate`` draws
calibration sets, runs edgejudge's own threshold selection on each (``abstain.target_threshold``,
``abstain.cascade_thresholds``) and counts how often the true error exceeds alpha. Used by
tests/test_trust_guarantee.py (small, in CI) and benchmarks/bench_trust_guarantee.py (full size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgejudge.trust import abstain


def accuracy(conf: np.ndarray, gap: float = 0.03) -> np.ndarray:
    return np.clip(conf - gap, 0.0, 1.0)


def confidences(rng: np.random.Generator, n: int) -> np.ndarray:
    return 0.5 + 0.5 * rng.beta(3.0, 1.0, n)  # most verdicts confident, as a judge's are


@dataclass(frozen=True)
class Scenario:
    name: str
    agree: float = 1.0  # pairs: how often the items of a cluster are right or wrong together
    size: int = 2  # pairs: items per cluster (2: both orders; 4: say, two rubric variants in both orders)

    def label(self) -> str:
        if self.name != "pairs":
            return self.name
        what = "both orders" if self.size == 2 else f"clusters of {self.size}"
        return f"{what}, agree {self.agree:g}"

    def draw(self, rng: np.random.Generator, n: int) -> dict:
        """n items: ``conf`` (stages x n), ``correct`` (stages x n), ``cluster`` (n)."""
        if self.name == "independent":
            conf = confidences(rng, n)
            return {"conf": conf[None], "correct": (rng.random(n) < accuracy(conf))[None], "cluster": np.arange(n)}
        if self.name == "pairs":
            m = -(-n // self.size)
            base = np.repeat(confidences(rng, m), self.size)
            conf = np.clip(base + rng.normal(0, 0.03, m * self.size), 0.5, 1.0)
            shared = np.repeat(rng.random(m), self.size)
            together = np.repeat(rng.random(m) < self.agree, self.size)
            correct = np.where(together, shared, rng.random(m * self.size)) < accuracy(base)
            cluster = np.repeat(np.arange(m), self.size)
            return {"conf": conf[None, :n], "correct": correct[None, :n], "cluster": cluster[:n]}
        if self.name == "cascade":
            easy = rng.beta(2.0, 1.0, n)
            c1 = 0.5 + 0.5 * np.clip(easy + rng.normal(0, 0.15, n), 0, 1)
            c2 = 0.5 + 0.5 * np.clip(0.3 + 0.7 * easy + rng.normal(0, 0.1, n), 0, 1)
            u1 = rng.random(n)
            u2 = np.where(rng.random(n) < 0.5, u1, rng.random(n))  # hard for one, often hard for both
            # the second stage is wrong more often than it thinks on the items the first finds hard
            correct = np.stack([u1 < accuracy(c1), u2 < accuracy(c2, 0.03 + 0.3 * (1 - easy))])
            return {"conf": np.stack([c1, c2]), "correct": correct, "cluster": np.arange(n)}
        raise ValueError(self.name)


def stage_sets(sample: dict, *, clustered: bool = True) -> list[list[list]]:
    """The stored calibration set of each stage: [confidence, correct, cluster, item]."""
    n = sample["conf"].shape[1]
    names = [f"c{c}" for c in sample["cluster"]] if clustered else [f"i{i}" for i in range(n)]
    return [[[float(c), bool(ok), names[i], f"i{i}"] for i, (c, ok) in enumerate(zip(conf, correct))]
            for conf, correct in zip(sample["conf"], sample["correct"])]


def risk(population: dict, thresholds: list[float | None]) -> float | None:
    """The error rate on the answered items (None: nothing answered)."""
    remaining = np.ones(population["conf"].shape[1], dtype=bool)
    errors = answered = 0
    for conf, correct, threshold in zip(population["conf"], population["correct"], thresholds):
        if threshold is None:
            continue
        take = remaining & (conf >= threshold)
        answered += int(take.sum())
        errors += int((take & ~correct).sum())
        remaining &= ~take
    return errors / answered if answered else None


def select(sets: list[list[list]], alpha: float, delta: float, *, naive: bool = False) -> list[float | None]:
    """edgejudge's thresholds; ``naive``: each stage on its whole set at level delta, items as if
    independent (what edgejudge did before clusters and cascades were accounted for)."""
    if naive:
        return [abstain.target_threshold([e[0] for e in s], [e[1] for e in s], alpha, delta) for s in sets]
    if len(sets) == 1:
        s = sets[0]
        return [abstain.target_threshold([e[0] for e in s], [e[1] for e in s], alpha, delta, [e[2] for e in s])]
    return abstain.cascade_thresholds(sets, alpha, delta)


def violation_rate(scenario: Scenario, *, n: int, alpha: float, delta: float, draws: int, seed: int,
                   population: int = 200_000, naive: bool = False) -> tuple[float, float]:
    """The share of draws whose chosen thresholds have a true error above alpha, and the mean
    coverage (share of the population answered)."""
    rng = np.random.default_rng(seed)
    world = scenario.draw(np.random.default_rng(seed + 1_000_003), population)
    violations, coverage = 0, 0.0
    for _ in range(draws):
        thresholds = select(stage_sets(scenario.draw(rng, n)), alpha, delta, naive=naive)
        value = risk(world, thresholds)
        violations += value is not None and value > alpha
        coverage += _coverage(world, thresholds)
    return violations / draws, coverage / draws


def _coverage(population: dict, thresholds: list[float | None]) -> float:
    remaining = np.ones(population["conf"].shape[1], dtype=bool)
    for conf, threshold in zip(population["conf"], thresholds):
        if threshold is not None:
            remaining &= ~(conf >= threshold)
    return 1.0 - float(remaining.mean())
