"""Token sampling in numpy: the same draws as a plain full sort where the set is cut (top-k/p,
min-p), and the softmax distribution where nothing is cut."""

import numpy as np
import pytest

from edgejudge.backends.llama import sampling
from edgejudge.store.registry import Sampling


def sorted_reference(logits, settings, rng):
    """Sampling as the textbook writes it: sort everything, cut, draw."""
    x = logits.astype(np.float64) / settings.temperature
    candidates = np.flatnonzero(np.isfinite(x))
    if settings.top_k and settings.top_k < candidates.size:
        candidates = candidates[np.argpartition(-x[candidates], settings.top_k - 1)[: settings.top_k]]
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


@pytest.mark.parametrize("settings", [
    Sampling(temperature=0.7, top_p=0.9),
    Sampling(temperature=0.6, top_p=0.95, top_k=20),
    Sampling(temperature=1.0, min_p=0.05),
    Sampling(temperature=1.5, top_p=0.99),  # a wide nucleus: past the first partial sort
    Sampling(temperature=0.8, top_p=0.8, min_p=0.1),
])
@pytest.mark.parametrize("scale, peak", [(1.0, 0.0), (4.0, 0.0), (2.0, 15.0)])  # peak: a model's few likely tokens
def test_cut_sampling_draws_what_a_full_sort_draws(settings, scale, peak):
    rng = np.random.default_rng(7)
    for trial in range(20):
        logits = (rng.normal(0, scale, 151_936)).astype(np.float32)
        logits[rng.integers(0, logits.size, 30)] += peak
        logits[rng.integers(0, logits.size, 50)] = -np.inf  # masked tokens are never drawn
        logits[rng.integers(0, logits.size, 5)] = logits.max()  # ties at the top
        ours = sampling.sample(logits, settings, np.random.default_rng(trial))
        assert ours == sorted_reference(logits, settings, np.random.default_rng(trial))


def test_uncut_sampling_follows_the_softmax():
    logits = np.append(np.log([0.5, 0.3, 0.15, 0.05]), -np.inf).astype(np.float32)
    rng = np.random.default_rng(0)
    draws = np.bincount([sampling.sample(logits, Sampling(temperature=1.0), rng) for _ in range(20_000)],
                        minlength=5)
    assert draws[4] == 0
    np.testing.assert_allclose(draws[:4] / draws.sum(), [0.5, 0.3, 0.15, 0.05], atol=0.015)
