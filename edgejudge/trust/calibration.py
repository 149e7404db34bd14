"""Temperature scaling of label probabilities, with a position term for A/B labels.

A verdict carries probabilities over its labels, not logits, but the log-probabilities are the
logits up to a constant, which softmax ignores. The calibrated distribution is

    p'(k) ∝ exp(log p(k) / T + b · c(k)),   c(A) = +1/2, c(B) = -1/2, c(other) = 0,

so for two labels the logit of A against B becomes ``logit / T + b``: T undoes over- or
under-confidence, b a judge's preference for a position (SmolLM2 answers "A" whatever the order).
The position term is fitted only where the labels hold A and B (pairwise, arena).

The fit minimises the negative log-likelihood of the gold labels over (1/T, b), plus a weak
Gaussian prior ``PRIOR/2 · ((1/T - 1)² + b²)`` worth about one item: on a calibration set the
labels can separate perfectly (a tiny set, or one where the same pairs come in both orders), and
without it the likelihood would push 1/T and b to infinity. The problem is a two-feature
multinomial logistic regression, so it is convex, and Newton's method with a backtracking line
search finds the minimum in a few steps (numpy only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgejudge.trust import metrics

EPS = 1e-12
POSITION = {"A": 0.5, "B": -0.5}
PRIOR = 1.0
INVERSE_T = (1e-3, 1e3)  # bounds of 1/T: a sharpening by 1000 or a flattening by 1000 at most


@dataclass(frozen=True)
class Fit:
    """Fitted parameters: the temperature, and the position bias (None without a position term)."""

    temperature: float
    position_bias: float | None = None

    def parameters(self) -> dict:
        """The fitted parameters by name, whatever fields the fit has (records and listings show it)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def has_position(labels: Sequence[str]) -> bool:
    return "A" in labels and "B" in labels


def apply(probabilities: dict[str, float], fit: Fit) -> dict[str, float]:
    """The calibrated distribution over the same labels."""
    labels = list(probabilities)
    bias = fit.position_bias or 0.0
    z = np.array([math.log(max(probabilities[k], EPS)) / fit.temperature + bias * POSITION.get(k, 0.0)
                  for k in labels])
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    return {k: float(v) for k, v in zip(labels, p)}


def _arrays(probabilities: Sequence[dict[str, float]], gold: Sequence[str]):
    labels: list[str] = []
    for probs in probabilities:
        labels.extend(k for k in probs if k not in labels)
    keep = [i for i, g in enumerate(gold) if g in labels]
    s = np.array([[math.log(max(probabilities[i].get(k, 0.0), EPS)) for k in labels] for i in keep]).reshape(len(keep), len(labels))
    c = np.array([POSITION.get(k, 0.0) for k in labels])
    g = np.array([labels.index(gold[i]) for i in keep], dtype=int)
    return labels, s, c, g


def _objective(theta: np.ndarray, s: np.ndarray, c: np.ndarray, g: np.ndarray, position: bool):
    """NLL (with the prior), its gradient and Hessian in (1/T, b) (or in 1/T alone)."""
    u, b = theta[0], theta[1] if position else 0.0
    z = u * s + b * c
    z_max = z.max(axis=1, keepdims=True)
    log_norm = z_max[:, 0] + np.log(np.exp(z - z_max).sum(axis=1))
    rows = np.arange(len(g))
    nll = float((log_norm - z[rows, g]).sum())
    p = np.exp(z - log_norm[:, None])
    features = [s, np.broadcast_to(c, s.shape)] if position else [s]
    means = [(p * f).sum(axis=1) for f in features]
    grad = np.array([float((m - f[rows, g]).sum()) for m, f in zip(means, features)])
    hess = np.empty((len(features), len(features)))
    for i, fi in enumerate(features):
        for j, fj in enumerate(features):
            hess[i, j] = float(((p * fi * fj).sum(axis=1) - means[i] * means[j]).sum())
    centre = np.array([1.0, 0.0])[: len(theta)]
    nll += PRIOR / 2 * float(((theta - centre) ** 2).sum())
    return nll, grad + PRIOR * (theta - centre), hess + PRIOR * np.eye(len(theta))


def fit(probabilities: Sequence[dict[str, float]], gold: Sequence[str], *, position: bool | None = None) -> Fit:
    """The temperature (and position bias) minimising the NLL of ``gold`` under the calibrated
    probabilities. Items whose gold label is not among the labels are left out."""
    labels, s, c, g = _arrays(probabilities, gold)
    if position is None:
        position = has_position(labels)
    if len(g) == 0:
        return Fit(1.0, 0.0 if position else None)
    theta = np.array([1.0, 0.0]) if position else np.array([1.0])
    f, grad, hess = _objective(theta, s, c, g, position)
    for _ in range(100):
        try:
            step = np.linalg.solve(hess + 1e-9 * np.eye(len(theta)), grad)
        except np.linalg.LinAlgError:
            step = grad
        if float(grad @ step) <= 0:  # not a descent direction (a flat or degenerate Hessian)
            step = grad
        t = 1.0
        while True:
            candidate = theta - t * step
            candidate[0] = min(max(candidate[0], INVERSE_T[0]), INVERSE_T[1])
            f_new, grad_new, hess_new = _objective(candidate, s, c, g, position)
            if f_new <= f - 1e-4 * t * float(grad @ step) or t < 1e-10:
                break
            t /= 2
        done = abs(f - f_new) <= 1e-12 * max(1.0, abs(f)) or np.abs(candidate - theta).max() < 1e-10
        theta, f, grad, hess = candidate, f_new, grad_new, hess_new
        if done or np.abs(grad).max() < 1e-9 * max(1, len(g)):
            break
    return Fit(float(1.0 / theta[0]), float(theta[1]) if position else None)


def nll(probabilities: Sequence[dict[str, float]], gold: Sequence[str]) -> float | None:
    """Mean negative log-likelihood of the gold labels."""
    values = [-math.log(max(p.get(g, 0.0), EPS)) for p, g in zip(probabilities, gold)]
    return sum(values) / len(values) if values else None


def folds_of(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint held-out index sets covering ``range(n)`` (a seeded shuffle)."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def cross_validate(probabilities: Sequence[dict[str, float]], gold: Sequence[str], *, folds: int = 5,
                   position: bool | None = None, seed: int = 0) -> dict:
    """Fit on k-1 folds, calibrate the held-out fold, for every fold: held-out calibrated
    probabilities for every item, and ECE, accuracy, Brier and NLL before and after."""
    n = len(gold)
    k = max(2, min(folds, n))
    held_out: list[dict[str, float]] = [{} for _ in range(n)]
    for test in folds_of(n, k, seed):
        test_set = set(test.tolist())
        train = [i for i in range(n) if i not in test_set]
        fitted = fit([probabilities[i] for i in train], [gold[i] for i in train], position=position)
        for i in test:
            held_out[i] = apply(probabilities[i], fitted)
    return {"folds": k, "probabilities": held_out, "raw": summary(probabilities, gold),
            "calibrated": summary(held_out, gold)}


def summary(probabilities: Sequence[dict[str, float]], gold: Sequence[str]) -> dict:
    pred = [max(p, key=p.__getitem__) for p in probabilities]
    conf = [metrics.confidence(p) for p in probabilities]
    correct = [p == g for p, g in zip(pred, gold)]
    return {"accuracy": metrics.accuracy(gold, pred), "ece": metrics.ece(conf, correct),
            "brier": metrics.brier(probabilities, gold), "nll": nll(probabilities, gold)}
