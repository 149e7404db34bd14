"""The trust statistics against values computed by hand, the calibration fit on data with a
known answer, fixed-sequence thresholds, and the HTML report's structure (no model needed)."""

import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from edgejudge.trust import abstain, calibration, evaluate, metrics, report

GOLD = ["A", "A", "B", "B", "A"]
PRED = ["A", "B", "B", "A", "A"]


def test_accuracy_and_kappa_by_hand():
    assert metrics.accuracy(GOLD, PRED) == pytest.approx(0.6)
    # p_o = 3/5; marginals: gold A 3/5, B 2/5; verdicts A 3/5, B 2/5 -> p_e = 9/25 + 4/25 = 0.52
    assert metrics.cohen_kappa(GOLD, PRED) == pytest.approx((0.6 - 0.52) / 0.48)
    assert metrics.cohen_kappa(["A", "A"], ["A", "A"]) is None  # p_e = 1: undefined
    assert metrics.cohen_kappa(["A", "B", "A", "B"], ["A", "A", "A", "A"]) == pytest.approx(0.0)


def test_ece_by_hand_with_bin_edges():
    conf = [0.95, 0.85, 0.62, 0.55, 0.91]
    correct = [True, False, True, False, True]
    # bin 9: {0.95, 0.91} acc 1, conf 0.93 -> 2/5*0.07; bin 8: 1/5*0.85; bin 6: 1/5*0.38; bin 5: 1/5*0.55
    assert metrics.ece(conf, correct) == pytest.approx(0.4 * 0.07 + 0.2 * 0.85 + 0.2 * 0.38 + 0.2 * 0.55)
    rows = metrics.reliability([1.0, 0.5, 0.4999], [True, True, False])
    assert rows[9]["n"] == 1 and rows[5]["n"] == 1 and rows[4]["n"] == 1  # 1.0 in the last bin, 0.5 opens bin 5
    assert metrics.ece([0.7, 0.7], [True, False]) == pytest.approx(0.2)


def test_brier_and_confusion_by_hand():
    probs = [{"A": 0.8, "B": 0.2}, {"A": 0.3, "B": 0.7}]
    assert metrics.brier(probs, ["A", "A"]) == pytest.approx((0.04 + 0.04 + 0.49 + 0.49) / 2)
    assert metrics.brier([{"A": 1.0, "B": 0.0}], ["B"]) == pytest.approx(2.0)
    assert metrics.confusion(GOLD, PRED) == {"labels": ["A", "B"], "matrix": [[2, 1], [1, 1]]}


def test_length_bias_and_position_consistency_by_hand():
    out = metrics.length_bias(["A", "B", "A", "B"], ["A", "A", "A", "A"], ["A", "A", "B", None])
    assert out["accuracy_a_longer"] == pytest.approx(0.5) and out["n_a_longer"] == 2
    assert out["accuracy_b_longer"] == pytest.approx(1.0) and out["n_b_longer"] == 1
    assert out["picks_longer"] == pytest.approx(2 / 3) and out["gold_longer"] == pytest.approx(1 / 3)
    assert metrics.position_consistency([True, False, True, True]) == pytest.approx(0.75)


def test_bootstrap_interval_is_reproducible_and_brackets_the_estimate():
    correct = np.array([1.0] * 30 + [0.0] * 10)
    first = metrics.bootstrap(lambda idx: float(correct[idx].mean()), len(correct))
    assert first == metrics.bootstrap(lambda idx: float(correct[idx].mean()), len(correct))
    assert first[0] < 0.75 < first[1] and 0.55 < first[0] and first[1] < 0.9
    assert metrics.bootstrap(lambda idx: 1.0, 10) == [1.0, 1.0]


def test_report_intervals_match_the_statistics_on_a_constant_judge():
    rows = [{"id": i, "gold": "A", "task": "pairwise", "variant": "", "longer": None, "status": "ok",
             "verdict": "A", "probabilities": {"A": 0.9, "B": 0.1}} for i in range(8)]
    result = evaluate.report(rows)
    assert result["accuracy"] == 1.0 and result["intervals"]["accuracy"] == [1.0, 1.0]
    assert result["ece"] == pytest.approx(0.1) and result["intervals"]["ece"] == pytest.approx([0.1, 0.1])
    assert result["brier"] == pytest.approx(0.02) and result["kappa"] is None


def test_apply_by_hand():
    fitted = calibration.apply({"A": 0.8, "B": 0.2}, calibration.Fit(2.0))
    assert fitted["A"] == pytest.approx(2 / 3)  # logit ln 4, halved: ln 2
    shifted = calibration.apply({"A": 0.8, "B": 0.2}, calibration.Fit(2.0, {"A": math.log(2) / 2, "B": -math.log(2) / 2}))
    assert shifted["A"] == pytest.approx(0.8)  # ln 2 + ln 2
    three = calibration.apply({"A": 0.5, "B": 0.25, "tie": 0.25}, calibration.Fit(0.5))
    assert three["A"] == pytest.approx(4 / 6) and sum(three.values()) == pytest.approx(1.0)
    tilted = calibration.apply({"true": 0.5, "false": 0.5}, calibration.Fit(1.0, {"true": 1.0}))
    assert tilted["true"] == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert calibration.Fit(2.0, {"A": 0.25, "B": -0.25}).position_bias == pytest.approx(0.5)
    assert calibration.Fit(2.0, {"true": 0.1}).describe() == {"method": "temperature+bias", "temperature": 2.0,
                                                              "biases": {"true": 0.1}}


def _synthetic(n=4000, scale=3.0, shift=1.0, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    truth = rng.random(n) < 1 / (1 + np.exp(-z))
    p_a = 1 / (1 + np.exp(-(scale * z + shift)))  # overconfident, leaning to A
    return [{"A": float(p), "B": float(1 - p)} for p in p_a], ["A" if t else "B" for t in truth]


def test_fit_recovers_a_known_temperature_and_position_bias():
    probs, gold = _synthetic()
    fitted = calibration.fit(probs, gold)
    assert fitted.temperature == pytest.approx(3.0, abs=0.25)
    assert fitted.position_bias == pytest.approx(-1 / 3, abs=0.15)  # undoes +1 on the logit, divided by T
    assert sum(fitted.biases.values()) == pytest.approx(0.0, abs=1e-8)  # the prior fixes the free constant


def test_cross_validation_lowers_held_out_ece_on_a_miscalibrated_judge():
    probs, gold = _synthetic(n=1000)
    checked = calibration.cross_validate(probs, gold, folds=5)
    assert checked["folds"] == 5 and len(checked["probabilities"]) == 1000
    assert checked["calibrated"]["ece"] < 0.5 * checked["raw"]["ece"]
    assert checked["calibrated"]["nll"] < checked["raw"]["nll"]
    pairs = [i // 2 for i in range(1000)]  # both orders of a pair stay in one fold
    folds = calibration.folds_of(1000, 5, groups=pairs)
    assert sorted(np.concatenate(folds).tolist()) == list(range(1000))
    assert all(len({pairs[i] for i in fold} & {pairs[i] for i in other}) == 0
               for a, fold in enumerate(folds) for b, other in enumerate(folds) if a != b)


def test_fit_stays_finite_on_separable_labels():
    probs = [{"A": 0.95, "B": 0.05}] * 10 + [{"A": 0.9, "B": 0.1}] * 10
    fitted = calibration.fit(probs, ["A"] * 10 + ["B"] * 10)
    assert 0.01 < fitted.temperature < 100 and abs(fitted.position_bias) < 100


def test_clopper_pearson_by_hand():
    assert abstain.clopper_pearson_upper(0, 10, 0.1) == pytest.approx(1 - 0.1 ** (1 / 10))
    assert abstain.clopper_pearson_upper(1, 2, 0.1) == pytest.approx(math.sqrt(0.9))  # 1 - p^2 = 0.1
    assert abstain.clopper_pearson_upper(3, 3, 0.1) == 1.0
    assert abstain.min_items(0.2, 0.1) == 11  # 0.8^11 < 0.1 < 0.8^10


def test_fixed_sequence_threshold():
    conf = [0.95] * 20 + [0.7] * 10
    correct = [True] * 20 + [True] * 5 + [False] * 5
    # at 0.95: 0 errors in 20, bound 1 - 0.1^(1/20) = 0.109; at 0.7: 5 in 30, bound 0.287
    assert abstain.target_threshold(conf, correct, 0.2, 0.1) == 0.95
    assert abstain.target_threshold(conf, correct, 0.3, 0.1) == 0.7
    assert abstain.target_threshold(conf, correct, 0.05, 0.1) is None
    # a failure stops the scan even if a lower threshold would pass again
    conf2 = [0.99] * 15 + [0.9] * 15 + [0.8] * 200
    correct2 = [True] * 15 + [False] * 15 + [True] * 200
    assert abstain.target_threshold(conf2, correct2, 0.2, 0.1) == 0.99


def test_policy_rejects_contradictions():
    from edgejudge.errors import UsageError

    with pytest.raises(UsageError):
        abstain.Policy(abstain_below=0.7, target_error=0.2)
    with pytest.raises(UsageError):
        abstain.Policy(target_error=1.5)


class _Balance(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self):
        super().__init__()
        self.stack, self.tables, self.rows, self.errors = [], 0, 0, []

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        self.rows += tag == "tr"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_report_page_is_well_formed_and_self_contained():
    rows = []
    for i in range(40):
        gold = "A" if i % 2 else "B"
        p = 0.55 + 0.01 * i
        rows.append({"id": f"item<{i}>", "gold": gold, "task": "pairwise", "variant": "" if i < 30 else "code",
                     "longer": "A" if i % 3 else "B", "status": "ok" if i < 38 else "abstain", "verdict": "A",
                     "probabilities": {"A": p, "B": 1 - p}, "raw_probabilities": {"A": 0.9, "B": 0.1},
                     "agree": i % 4 != 0})
    result = evaluate.report(rows)
    page = report.render(result, subtitle="gold.jsonl & co")
    checker = _Balance()
    checker.feed(page)
    checker.close()
    assert not checker.errors and checker.stack == []
    assert checker.tables >= 4  # figures, confusion, biases, groups
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "item&lt;0&gt;" in page and "item<0>" not in page  # ids are escaped
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.DOTALL).group(0))
    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == "#4a7fb5"]
    assert len(bars) == sum(1 for row in result["reliability"] if row["n"])
    assert "pairwise/code" in page and "pairwise/default" in page


def test_a_tie_from_disagreement_has_its_own_confidence():
    from edgejudge.formats import Decision
    from edgejudge.judging.verdict import combine_swap

    first = Decision("A", {"A": 0.9, "B": 0.1}, 1.0)
    second = Decision("A", {"A": 0.8, "B": 0.2}, 1.0)  # swapped order: "A" there is B here
    combined, swap = combine_swap("pairwise", first, second, tie_on_disagreement=True)
    assert combined.verdict == "tie"
    # the reads disagree with probability 1 - (0.9 * 0.2 + 0.1 * 0.8) = 0.74
    assert swap["tie_confidence"] == pytest.approx(0.74)
    assert metrics.verdict_confidence("tie", combined.probabilities, swap) == pytest.approx(0.74)
    agreed, swap2 = combine_swap("pairwise", first, Decision("B", {"A": 0.3, "B": 0.7}, 1.0), tie_on_disagreement=True)
    assert agreed.verdict == "A" and "tie_confidence" not in swap2
    assert metrics.verdict_confidence("A", agreed.probabilities, swap2) == agreed.probabilities["A"]
    # eval scores the emitted tie with that confidence, not P(A): the 4 ties at 0.9 gave ECE 0.9
    rows = [{"id": i, "gold": "A", "task": "pairwise", "variant": "", "longer": None, "status": "ok", "verdict": "tie",
             "probabilities": {"A": 0.9, "B": 0.1},
             "confidence": metrics.verdict_confidence("tie", {"A": 0.9, "B": 0.1}, {"tie_confidence": 0.3})}
            for i in range(4)]
    assert evaluate.report(rows)["ece"] == pytest.approx(0.3)


def test_report_splits_errors_from_missing_and_counts_dropped_resamples():
    golds = [{"id": i, "label": "A", "prompt": f"p{i}", "response_a": "a", "response_b": "b"} for i in range(6)]
    records = [{"id": 0, "status": "ok", "verdict": "A", "probabilities": {"A": 0.9, "B": 0.1}},
               {"id": 1, "status": "ok", "verdict": "A", "probabilities": {"A": 0.8, "B": 0.2}},
               {"id": 2, "status": "ok", "verdict": "A", "probabilities": {"A": 0.7, "B": 0.3}},
               {"id": 3, "status": "error", "error": {"code": "bad_json"}},
               {"id": 4, "status": "abstain", "verdict": None, "probabilities": {"A": 0.55, "B": 0.45}}]
    result = evaluate.report(evaluate.join(golds, records))
    assert (result["n"], result["answered"], result["abstained"], result["errors"], result["missing"]) == (6, 3, 1, 1, 1)
    # every resample holds gold A and verdict A only: kappa is undefined on all 1,000, and says so
    assert result["kappa"] is None and result["intervals"]["kappa"] is None
    assert result["resamples"] == {"n": 1000, "dropped": {"accuracy": 0, "kappa": 1000, "ece": 0, "brier": 0}}


def test_report_shows_held_out_calibration_per_task():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(120):
        task, labels = ("binary", ["true", "false"]) if i % 2 else ("pairwise", ["A", "B"])
        gold = labels[int(rng.random() < 0.3)]
        p = 0.95 if rng.random() < 0.5 else 0.6  # leaning to the first label whatever the truth
        probs = {labels[0]: p, labels[1]: 1 - p}
        rows.append({"id": i, "gold": gold, "task": task, "variant": "", "longer": None, "status": "ok",
                     "verdict": labels[0], "probabilities": probs, "cluster": f"c{i // 4}"})
    checks = evaluate.report(rows)["calibration_check"]
    assert set(checks) == {"binary", "pairwise"}
    for check in checks.values():
        assert check["n"] == 60 and check["folds"] == 5
        assert check["ece_calibrated"] < check["ece_raw"] and check["nll_calibrated"] < check["nll_raw"]
    page = report.render(evaluate.report(rows))
    assert "Calibration, held out, per task" in page
