"""Token sampling from a logits vector: greedy, or temperature with top-k / top-p / min-p.

Done in numpy rather than llama.cpp's sampler chain so that the engine can sample first and ask
the grammar about that one token afterwards, and so that a seed makes a run repeatable.
"""

from __future__ import annotations

import numpy as np

from edgejudge.store.registry import Sampling


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64, copy=True)
    finite = np.isfinite(x)
    if not finite.any():
        return np.full_like(x, -np.inf)
    peak = x[finite].max()
    x -= peak
    x -= np.log(np.exp(x, where=finite, out=np.zeros_like(x)).sum(where=finite))
    x[~finite] = -np.inf
    return x


def sample(logits: np.ndarray, settings: Sampling, rng: np.random.Generator) -> int:
    """One token id drawn from ``logits`` (tokens at -inf are never drawn)."""
    if settings.temperature <= 0:
        return int(np.argmax(logits))
    x = logits.astype(np.float64) / settings.temperature
    candidates = np.flatnonzero(np.isfinite(x))
    if candidates.size == 0:
        return int(np.argmax(logits))
    if settings.top_k and settings.top_k < candidates.size:
        top = np.argpartition(-x[candidates], settings.top_k - 1)[: settings.top_k]
        candidates = candidates[top]
    values = x[candidates]
    order = np.argsort(-values, kind="stable")
    candidates, values = candidates[order], values[order]
    probs = np.exp(values - values[0])
    probs /= probs.sum()
    keep = probs.size
    if settings.top_p < 1.0:
        keep = min(keep, int(np.searchsorted(np.cumsum(probs), settings.top_p)) + 1)
    if settings.min_p > 0:
        keep = min(keep, max(1, int((probs >= settings.min_p * probs[0]).sum())))
    probs = probs[:keep] / probs[:keep].sum()
    return int(candidates[rng.choice(keep, p=probs)])
