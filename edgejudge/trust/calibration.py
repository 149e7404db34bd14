"""Temperature scaling of label probabilities with a shift (a bias per label), for every label set.

A verdict carries probabilities over its labels, not logits, but the log-probabilities are the
logits up to a constant, which softmax ignores. The calibrated distribution is

    p'(k) ∝ exp(log p(k) / T + b_k),

one temperature T and one bias b_k per label (bias-corrected temperature scaling). For two labels
this is Platt scaling of the logit: ``logit / T + (b_1 - b_2)``; T undoes over- or
under-confidence, the biases a judge's preference for a label: a position (A or B), ``true`` over
``false``, an option letter, a point of a scale.

The fit minimises the negative log-likelihood of the gold labels over u = 1/T and b, plus a weak
Gaussian prior ``PRIOR/2 · ((u - 1)² + Σ b_k²)`` worth about one item: a calibration set can be
separable (a tiny set, one class only, or the same pairs in both orders), and without the prior
the likelihood would push u and b to infinity. The prior also fixes the biases' free constant
(softmax ignores one added to every b_k): at the optimum they sum to zero.

u is kept in ``INVERSE_T`` = [1e-3, 1e3]. The lower bound keeps T positive and finite: T ≤ 0
would reverse a judge's ranking of its own labels, and calibration is meant to correct how much a
verdict is believed, not which way it points; a judge that is confidently wrong gets u at the bound
(T = 1000, its log-probabilities flattened away) and the biases then carry the label shares of the
gold set. The upper bound (sharpening by 1000) is never reached with the prior in place; it keeps
a stored T away from zero. The objective is convex (a multinomial logistic regression in u and b)
and strictly convex with the prior, so it has one minimum on the box, found by a projected Newton
method (Bertsekas 1982): Newton steps on the variables off their bound, u held at a bound its
gradient pushes against, and an Armijo line search along the projected path that counts only the
step actually taken. numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgejudge.trust import metrics

EPS = 1e-12
PRIOR = 1.0
INVERSE_T = (1e-3, 1e3)  # bounds of u = 1/T (see the module's docstring)
MAX_ITERATIONS = 200


@dataclass(frozen=True)
class Fit:
    """Fitted parameters: the temperature and a bias per label (labels not listed have 0)."""

    temperature: float
    biases: dict[str, float] = field(default_factory=dict)

    @property
    def position_bias(self) -> float | None:
        """The shift of the logit of A against B (None where the labels are not A and B)."""
        if "A" in self.biases and "B" in self.biases:
            return self.biases["A"] - self.biases["B"]
        return None

    def describe(self) -> dict:
        """The parameters as a plain dict (what a verdict's calibration field can show)."""
        return {"method": "temperature+bias", "temperature": self.temperature, "biases": dict(self.biases)}


def apply(probabilities: dict[str, float], fit: Fit) -> dict[str, float]:
    """The calibrated distribution over the same labels."""
    labels = list(probabilities)
    z = np.array([math.log(max(probabilities[k], EPS)) / fit.temperature + fit.biases.get(k, 0.0) for k in labels])
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    return {k: float(v) for k, v in zip(labels, p)}


def _arrays(probabilities: Sequence[dict[str, float]], gold: Sequence[str]):
    labels: list[str] = []
    for probs in probabilities:
        labels.extend(k for k in probs if k not in labels)
    keep = [i for i, g in enumerate(gold) if g in labels]
    s = np.array([[math.log(max(probabilities[i].get(k, 0.0), EPS)) for k in labels] for i in keep])
    g = np.array([labels.index(gold[i]) for i in keep], dtype=int)
    return labels, s.reshape(len(keep), len(labels)), g


def objective(theta: np.ndarray, s: np.ndarray, g: np.ndarray):
    """The penalised NLL at theta = (u, b_1..b_K), its gradient and its Hessian."""
    u, b = theta[0], theta[1:]
    z = u * s + b
    z_max = z.max(axis=1, keepdims=True)
    log_norm = z_max[:, 0] + np.log(np.exp(z - z_max).sum(axis=1))
    rows = np.arange(len(g))
    p = np.exp(z - log_norm[:, None])
    mean_s = (p * s).sum(axis=1)
    onehot = np.zeros_like(p)
    onehot[rows, g] = 1.0
    grad = np.concatenate([[float((mean_s - s[rows, g]).sum())], (p - onehot).sum(axis=0)])
    k = s.shape[1]
    hess = np.empty((k + 1, k + 1))
    centred = s - mean_s[:, None]
    hess[0, 0] = float((p * centred ** 2).sum())
    hess[0, 1:] = hess[1:, 0] = (p * centred).sum(axis=0)
    hess[1:, 1:] = np.diag(p.sum(axis=0)) - p.T @ p
    centre = np.zeros(k + 1)
    centre[0] = 1.0
    value = float((log_norm - z[rows, g]).sum()) + PRIOR / 2 * float(((theta - centre) ** 2).sum())
    return value, grad + PRIOR * (theta - centre), hess + PRIOR * np.eye(k + 1)


def _project(theta: np.ndarray) -> np.ndarray:
    out = theta.copy()
    out[0] = min(max(out[0], INVERSE_T[0]), INVERSE_T[1])
    return out


def projected_gradient(theta: np.ndarray, grad: np.ndarray) -> float:
    """The optimality measure on the box: 0 exactly at the minimum."""
    return float(np.abs(theta - _project(theta - grad)).max())


def minimise(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """theta = (u, b) minimising :func:`objective` with u in ``INVERSE_T`` (projected Newton)."""
    theta = np.zeros(s.shape[1] + 1)
    theta[0] = 1.0
    f, grad, hess = objective(theta, s, g)
    tolerance = 1e-10 * max(1, len(g))
    for _ in range(MAX_ITERATIONS):
        measure = projected_gradient(theta, grad)
        if measure <= tolerance:
            break
        # u is held where it sits at (or within `near` of) a bound its gradient pushes against
        near = min(1e-3, measure)
        held = (theta[0] <= INVERSE_T[0] + near and grad[0] > 0) or (theta[0] >= INVERSE_T[1] - near and grad[0] < 0)
        newton = np.zeros_like(theta)
        free = slice(1, None) if held else slice(0, None)
        newton[free] = np.linalg.solve(hess[free, free], grad[free])  # positive definite: the prior
        if held:
            newton[0] = grad[0]  # a gradient-projection move on u: the projection cancels it at the bound
        found = None
        for step in (newton, grad):  # the gradient when the projection spoils the Newton step
            t = 1.0
            while t >= 1e-14 and found is None:
                candidate = _project(theta - t * step)
                f_new, grad_new, hess_new = objective(candidate, s, g)
                if f_new < f and f_new <= f - 1e-4 * float(grad @ (theta - candidate)):
                    found = candidate, f_new, grad_new, hess_new
                t /= 2
            if found is not None:
                break
        if found is None:
            break  # no step lowers f by more than rounding: this is the minimum
        gain = f - found[1]
        theta, f, grad, hess = found
        if gain <= 1e-15 * max(1.0, abs(f)):
            break
    return theta


def fit(probabilities: Sequence[dict[str, float]], gold: Sequence[str]) -> Fit:
    """The temperature and biases minimising the penalised NLL of ``gold`` under the calibrated
    probabilities. Items whose gold label is not among the labels are left out."""
    labels, s, g = _arrays(probabilities, gold)
    if len(g) == 0:
        return Fit(1.0, {})
    theta = minimise(s, g)
    return Fit(float(1.0 / theta[0]), {k: float(b) for k, b in zip(labels, theta[1:])})


def nll(probabilities: Sequence[dict[str, float]], gold: Sequence[str]) -> float | None:
    """Mean negative log-likelihood of the gold labels."""
    values = [-math.log(max(p.get(g, 0.0), EPS)) for p, g in zip(probabilities, gold)]
    return sum(values) / len(values) if values else None


def folds_of(n: int, k: int, seed: int = 0, groups: Sequence | None = None) -> list[np.ndarray]:
    """``k`` disjoint held-out index sets covering ``range(n)`` (a seeded shuffle); items of one
    group (both orders of a pair, say) always fall in the same fold."""
    if groups is None:
        order = np.random.default_rng(seed).permutation(n)
        return [order[i::k] for i in range(k)]
    names = list(dict.fromkeys(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: rank % k for rank, j in enumerate(order)}
    return [np.array([i for i in range(n) if fold_of[groups[i]] == f], dtype=int) for f in range(k)]


def cross_validate(probabilities: Sequence[dict[str, float]], gold: Sequence[str], *, folds: int = 5,
                   seed: int = 0, groups: Sequence | None = None) -> dict:
    """Fit on k-1 folds, calibrate the held-out fold, for every fold: held-out calibrated
    probabilities for every item, and ECE, accuracy, Brier and NLL before and after. ``groups``
    keeps the items of one group (cluster) in one fold."""
    n = len(gold)
    units = n if groups is None else len(set(groups))
    k = max(2, min(folds, units))
    held_out: list[dict[str, float]] = [{} for _ in range(n)]
    for test in folds_of(n, k, seed, groups):
        test_set = set(test.tolist())
        train = [i for i in range(n) if i not in test_set]
        fitted = fit([probabilities[i] for i in train], [gold[i] for i in train])
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
