"""The `--target-error` guarantee: edgejudge's own threshold selection on seeded synthetic
calibration sets (independent items, both orders of a pair, a 2-stage cascade) keeps the true error
on answered items at or below alpha in all but about delta of the draws; and the pieces it rests on
(clusters, the tests, the cascade's conditioning) by hand."""

import math

import pytest
from trust_simulation import Scenario, violation_rate

from edgejudge.trust import abstain, clusters

DRAWS = 150


def allowed(draws: int, delta: float, level: float = 1e-3) -> int:
    """The most violations a rate of delta gives in ``draws`` draws, but with probability ``level``."""
    count = 0
    while 1 - abstain.binom_cdf(count, draws, delta) > level:
        count += 1
    return count


@pytest.mark.parametrize("scenario", [Scenario("independent"), Scenario("pairs", agree=1.0),
                                      Scenario("pairs", agree=0.7, size=4), Scenario("cascade")],
                         ids=lambda s: s.label())
@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_violation_rate_stays_within_delta(scenario, alpha):
    delta = 0.1
    rate, coverage = violation_rate(scenario, n=200, alpha=alpha, delta=delta, draws=DRAWS, seed=7,
                                    population=100_000)
    assert rate * DRAWS <= allowed(DRAWS, delta), (rate, coverage)
    assert coverage > 0.01  # the guarantee is not bought by abstaining on everything


def test_treating_clustered_items_as_independent_breaks_the_guarantee():
    """Why clusters matter: four correlated records per item, counted as four items, violate."""
    scenario = Scenario("pairs", agree=1.0, size=4)
    naive, _ = violation_rate(scenario, n=50, alpha=0.1, delta=0.1, draws=DRAWS, seed=7, population=100_000,
                              naive=True)
    ours, _ = violation_rate(scenario, n=50, alpha=0.1, delta=0.1, draws=DRAWS, seed=7, population=100_000)
    assert naive * DRAWS > allowed(DRAWS, 0.1) and ours < naive


def test_binomial_and_hoeffding_bentkus_tests_by_hand():
    # no error in 11 independent items: 0.8^11 = 0.086 <= 0.1; in 10: 0.107 > 0.1
    assert abstain.binomial_passes(0, 11, 0.2, 0.1) and not abstain.binomial_passes(0, 10, 0.2, 0.1)
    for errors, n in ((0, 22), (3, 40), (10, 90), (25, 200)):  # the same as the Clopper-Pearson bound
        assert abstain.binomial_passes(errors, n, 0.2, 0.1) == (abstain.clopper_pearson_upper(errors, n, 0.1) <= 0.2)
    # Hoeffding-Bentkus with mean 0 is the binomial's zero-error case: (1 - alpha)^m
    assert abstain.hoeffding_bentkus_passes(0.0, 11, 0.2, 0.1)
    assert not abstain.hoeffding_bentkus_passes(0.0, 10, 0.2, 0.1)
    # mean 0.1 over 100 clusters: exp(-100 KL(0.1 || 0.2)) = exp(-3.67) = 0.026 <= 0.1
    kl = 0.1 * math.log(0.5) + 0.9 * math.log(0.9 / 0.8)
    assert math.exp(-100 * kl) < 0.1 and abstain.hoeffding_bentkus_passes(0.1, 100, 0.2, 0.1)
    assert not abstain.hoeffding_bentkus_passes(0.19, 100, 0.2, 0.1)


def test_clusters_count_once_in_the_threshold():
    # 12 pairs, both orders right at 0.9: 12 independent items pass alpha 0.2 (0.8^12 = 0.069) ...
    conf, correct = [0.9] * 24, [True] * 24
    pairs = [f"p{i // 2}" for i in range(24)]
    assert abstain.target_threshold(conf, correct, 0.2, 0.1, pairs) == 0.9
    # ... but 6 pairs (12 records) are 6 items, fewer than the 11 needed, where records alone pass
    assert abstain.target_threshold(conf[:12], correct[:12], 0.2, 0.1) == 0.9
    assert abstain.target_threshold(conf[:12], correct[:12], 0.2, 0.1, pairs[:12]) is None
    # a cluster's error is the share of its answered records that are wrong
    conf = [0.95] * 30 + [0.8] * 30
    correct = [True] * 30 + [False] * 30
    names = [f"c{i}" for i in range(30)] * 2  # each cluster: one sure right record, one unsure wrong one
    assert abstain.target_threshold(conf, correct, 0.2, 0.1, names) == 0.95  # at 0.8 every cluster errs half


def test_nan_and_junk_confidences_never_hang():
    assert abstain.target_threshold([float("nan")] * 50, [True] * 50, 0.2) is None
    mixed = [float("nan"), float("inf"), "0.9", None] * 5 + [0.9] * 20
    assert abstain.target_threshold(mixed, [True] * 40, 0.2) == 0.9


def test_cascade_calibrates_stage_two_on_what_stage_one_escalates():
    # stage 1: 100 sure items right at 0.95, 40 unsure ones at 0.6 (three in four wrong)
    stage1 = [[0.95, True, f"c{i}", f"i{i}"] for i in range(100)] + \
             [[0.6, i % 4 == 0, f"c{i}", f"i{i}"] for i in range(100, 140)]
    # stage 2 is sure on every item: right on the easy ones, wrong on a quarter of the hard ones
    stage2 = [[0.99, True, f"c{i}", f"i{i}"] for i in range(100)] + \
             [[0.99, i % 4 != 0, f"c{i}", f"i{i}"] for i in range(100, 140)]
    first, second = abstain.cascade_thresholds([stage1, stage2], 0.2, 0.1)
    assert first == 0.95
    assert second is None  # on the items stage 1 escalates, stage 2 errs 1 time in 4: it answers none
    # calibrated on all items (the old way) it would have answered them all: 10 errors in 140
    assert abstain.target_threshold([e[0] for e in stage2], [e[1] for e in stage2], 0.2, 0.1) == 0.99
    # each of K stages is tested at delta / K: 13 right items pass at 0.1 (0.8^13 = 0.055), not at 0.05
    assert abstain.cascade_thresholds([stage1[:13] + stage1[100:]], 0.2, 0.1, stages=2) == [None]
    assert abstain.cascade_thresholds([stage1[:13] + stage1[100:]], 0.2, 0.1) == [0.95]


def test_both_orders_rubric_variants_and_repeated_ids_are_one_cluster():
    pair = {"id": "q1-A", "prompt": "2+2?", "response_a": "4", "response_b": "5"}
    swapped = {"id": "q1-B", "prompt": "2+2?", "response_a": "5", "response_b": "4"}
    rubric = {"id": "q1-r", "prompt": "2+2?", "response_a": "4", "response_b": "5", "rubric": "be strict",
              "variant": "math"}
    other = {"id": "q2", "prompt": "3+3?", "response_a": "6", "response_b": "7"}
    repeat = {"id": "q2", "prompt": "3+3?", "response_a": "6", "response_b": "seven"}  # same id, edited content
    golds = [pair, swapped, rubric, other, repeat]
    names = clusters.assign([g["id"] for g in golds], [clusters.content_key(g) for g in golds])
    assert names[0] == names[1] == names[2] and names[3] == names[4] and names[0] != names[3]
    assert clusters.item_key(pair) != clusters.item_key(swapped)  # a cascade joins on the item as judged
