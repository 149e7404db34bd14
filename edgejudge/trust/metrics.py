"""The statistics of agreement and calibration, on plain lists (numpy only).

Definitions (also in docs/trust.md):

- accuracy: the share of items whose verdict equals the gold label.
- Cohen's kappa: (p_o - p_e) / (1 - p_e), p_o the accuracy, p_e the agreement expected by chance
  from the two marginals (sum over labels of gold share x verdict share); undefined (None) when
  p_e = 1 (both sides always give the same one label).
- ECE: the top label's probability (the confidence) is put in 10 equal-width bins over [0, 1]
  (bin i holds [i/10, (i+1)/10); 1.0 falls in the last); ECE = sum over bins of
  (items in bin / N) x |accuracy in bin - mean confidence in bin|.
- Brier: the mean over items of sum over labels of (p(label) - [label is gold])^2 (Brier's
  original multi-class score: 0 is perfect, 2 the worst).
- Bootstrap interval: the 2.5th and 97.5th percentiles of the statistic over 1,000 resamples of
  the items with replacement (seeded, so a report is reproducible).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

BINS = 10
RESAMPLES = 1000


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float | None:
    if not gold:
        return None
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def cohen_kappa(gold: Sequence[str], pred: Sequence[str]) -> float | None:
    n = len(gold)
    if n == 0:
        return None
    labels = set(gold) | set(pred)
    p_o = sum(g == p for g, p in zip(gold, pred)) / n
    p_e = sum((list(gold).count(k) / n) * (list(pred).count(k) / n) for k in labels)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


def confidence(probabilities: dict[str, float]) -> float:
    """The top label's probability."""
    return max(probabilities.values()) if probabilities else 0.0


def verdict_confidence(verdict: object, probabilities: dict[str, float], swap: object = None) -> float:
    """The confidence of the verdict a user receives: the probability of that label; for a tie
    made of a swap disagreement, its own ``swap.tie_confidence`` (the probability that the two
    orders disagree), never P(A) or P(B); the top label's probability where neither says."""
    tie = swap.get("tie_confidence") if isinstance(swap, dict) else None
    if verdict == "tie" and isinstance(tie, (int, float)) and not isinstance(tie, bool) and 0.0 <= tie <= 1.0:
        return float(tie)
    if isinstance(verdict, str) and verdict in probabilities:
        return probabilities[verdict]
    return confidence(probabilities)


def _bin(conf: float, bins: int) -> int:
    return min(max(math.floor(conf * bins), 0), bins - 1)


def reliability(conf: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> list[dict]:
    """Per equal-width bin: its range, item count, mean confidence and accuracy (None when empty)."""
    rows: list[dict] = [{"lo": i / bins, "hi": (i + 1) / bins, "n": 0, "confidence": None, "accuracy": None}
                        for i in range(bins)]
    sums = [[0.0, 0] for _ in range(bins)]
    for c, ok in zip(conf, correct):
        b = _bin(c, bins)
        rows[b]["n"] += 1
        sums[b][0] += c
        sums[b][1] += bool(ok)
    for row, (total_conf, hits) in zip(rows, sums):
        if row["n"]:
            row["confidence"] = total_conf / row["n"]
            row["accuracy"] = hits / row["n"]
    return rows


def ece(conf: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float | None:
    n = len(conf)
    if n == 0:
        return None
    return sum(row["n"] / n * abs(row["accuracy"] - row["confidence"])
               for row in reliability(conf, correct, bins) if row["n"])


def brier(probabilities: Sequence[dict[str, float]], gold: Sequence[str]) -> float | None:
    if not gold:
        return None
    total = 0.0
    for probs, g in zip(probabilities, gold):
        total += sum((p - (label == g)) ** 2 for label, p in probs.items())
        if g not in probs:
            total += 1.0  # the gold label got no probability at all
    return total / len(gold)


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> dict:
    """Counts with gold labels as rows and verdicts as columns."""
    order = list(labels or [])
    for label in [*gold, *pred]:
        if label not in order:
            order.append(label)
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    for g, p in zip(gold, pred):
        matrix[index[g]][index[p]] += 1
    return {"labels": order, "matrix": matrix}


def bootstrap_counted(statistic: Callable[[np.ndarray], float | None], n: int, *, resamples: int = RESAMPLES,
                      seed: int = 0) -> tuple[list[float] | None, int]:
    """A 95% percentile interval of ``statistic(indices)`` over resamples of ``range(n)``, and the
    number of resamples dropped because the statistic is undefined on them (None or NaN)."""
    if n < 2:
        return None, 0
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        value = statistic(rng.integers(0, n, n))
        if value is not None and not math.isnan(value):
            values.append(value)
    if not values:
        return None, resamples
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)], resamples - len(values)


def bootstrap(statistic: Callable[[np.ndarray], float | None], n: int, *, resamples: int = RESAMPLES,
              seed: int = 0) -> list[float] | None:
    """A 95% percentile interval of ``statistic(indices)`` over resamples of ``range(n)``
    (resamples where it is undefined are dropped: :func:`bootstrap_counted` counts them)."""
    return bootstrap_counted(statistic, n, resamples=resamples, seed=seed)[0]


def intervals(gold, pred, probs, conf) -> tuple[dict, dict]:
    """Bootstrap intervals, vectorised: per-item terms are computed once and resampled. Also how
    many resamples each statistic had to drop (kappa is undefined where a resample holds one label
    on both sides)."""
    n = len(gold)
    labels = sorted(set(gold) | set(pred))
    g = np.array([labels.index(x) for x in gold], dtype=int)
    p = np.array([labels.index(x) for x in pred], dtype=int)
    correct = (g == p).astype(float)
    conf = np.asarray(conf, dtype=float)
    bins = np.minimum((conf * BINS).astype(int), BINS - 1)
    per_item_brier = np.array([brier([x], [y]) for x, y in zip(probs, gold)])

    def kappa(idx):
        k = len(labels)
        p_e = float((np.bincount(g[idx], minlength=k) * np.bincount(p[idx], minlength=k)).sum()) / len(idx) ** 2
        return None if np.isclose(p_e, 1.0) else (correct[idx].mean() - p_e) / (1 - p_e)

    def ece(idx):
        count = np.bincount(bins[idx], minlength=BINS)
        gap = np.bincount(bins[idx], weights=correct[idx] - conf[idx], minlength=BINS)
        return float(np.abs(gap).sum() / len(idx)) if count.any() else None

    statistics = {"accuracy": lambda idx: float(correct[idx].mean()), "kappa": kappa, "ece": ece,
                  "brier": lambda idx: float(per_item_brier[idx].mean())}
    out, dropped = {}, {}
    for name, statistic in statistics.items():
        out[name], dropped[name] = bootstrap_counted(statistic, n)
    return out, {"n": RESAMPLES if n >= 2 else 0, "dropped": dropped}


def position_consistency(agree: Sequence[bool]) -> float | None:
    """The share of swapped items on which both orders gave the same verdict."""
    return sum(map(bool, agree)) / len(agree) if agree else None


def length_bias(gold: Sequence[str], pred: Sequence[str], longer: Sequence[str | None]) -> dict:
    """Accuracy by which response is longer (``longer`` is "A", "B", or None when equal), and how
    often the verdict picked the longer response."""
    out: dict = {}
    for side in ("A", "B"):
        picked = [(g, p) for g, p, side_longer in zip(gold, pred, longer) if side_longer == side]
        out[f"accuracy_{side.lower()}_longer"] = accuracy([g for g, _ in picked], [p for _, p in picked])
        out[f"n_{side.lower()}_longer"] = len(picked)
    chose = [p == side for p, side in zip(pred, longer) if side is not None and p in ("A", "B")]
    out["picks_longer"] = sum(chose) / len(chose) if chose else None
    golds = [g == side for g, side in zip(gold, longer) if side is not None and g in ("A", "B")]
    out["gold_longer"] = sum(golds) / len(golds) if golds else None
    return out
