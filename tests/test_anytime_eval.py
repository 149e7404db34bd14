"""What --think-until P would have given, derived from recorded probes (trust/anytime.py), its page
section, ``eval``'s report of it, and when a probe is due (backends/llama/probes.py: no model)."""

import orjson
import pytest

from edgejudge.backends.llama.probes import due, starts_transition
from edgejudge.plan import Probe
from edgejudge.trust import anytime, report

PROBE = Probe("\n</think>\n\n", ("A", "B"), ("A", "B"), every=8)


@pytest.mark.parametrize("before, piece, expected", [
    (b"is better.", b"\n\n", True),          # a paragraph break
    (b"is better.\n", b"\n", True),          # completed by the second newline
    (b"better.\n\n", b"\n", False),          # already broken: not a new transition
    (b"Yes, A is right.", b" Wait", True),   # DEER's marker, at a sentence start
    (b"\n\n", b"Alternatively", True),
    (b"is right.", b" Hmm", True),
    (b"I will", b" wait", False),            # lower case, mid-sentence
    (b"and then", b" Wait", False),          # not at a sentence start
    (b"good.", b" The", False),
])
def test_transition_points(before, piece, expected):
    assert starts_transition(PROBE, before, piece) is expected


def test_when_a_probe_is_due():
    assert due(PROBE, 0, None, False)  # token 0, always
    assert not due(PROBE, 7, 0, False) and due(PROBE, 8, 0, False)
    assert not due(PROBE, 3, 0, True) and due(PROBE, 4, 0, True)  # a transition after half an interval


def record(probes, final, tokens, **extra):
    verdict = max(final, key=final.__getitem__)
    return {"id": extra.pop("id", 1), "status": "ok", "verdict": verdict, "probabilities": final,
            "think_tokens": tokens, "think_exit": "closed", "probes": probes,
            "provenance": {"anytime": {"min_think": 4}}, **extra}


def probe(at, a):
    return {"at": at, "probabilities": {"A": a, "B": round(1 - a, 6)}}


def test_derive_stops_at_the_first_probe_past_min_think():
    r = record([probe(0, 0.95), probe(4, 0.7), probe(8, 0.91), probe(12, 0.2)], {"A": 0.1, "B": 0.9}, 20)
    assert anytime.derive(r, 0.9, min_think=4) == {"verdict": "A", "probabilities": {"A": 0.91, "B": 0.09},
                                                   "think_tokens": 8}
    assert anytime.derive(r, 0.7, min_think=4)["think_tokens"] == 4  # leading 0.7 >= 0.7
    assert anytime.derive(r, 0.7, min_think=5)["think_tokens"] == 8
    assert anytime.derive(r, 0.99, min_think=4)["verdict"] == "B"  # never settled: the final verdict
    assert anytime.derive(r, 0.99, min_think=4)["think_tokens"] == 20
    assert anytime.derive(r, None, at_zero=True)["verdict"] == "A"
    assert anytime.derive({**r, "probes": None}, 0.9) is None
    assert anytime.derive({**r, "rubric_variants": {"variants": [0, 1]}}, 0.9) is None


def test_derive_with_swap_stops_each_order_on_its_own():
    orders = [{"order": "as given", "probabilities": {"A": 0.6, "B": 0.4}, "think_tokens": 10,
               "probes": [probe(0, 0.5), probe(4, 0.9)]},
              {"order": "swapped", "probabilities": {"A": 0.2, "B": 0.8}, "think_tokens": 12,
               "probes": [probe(0, 0.5), probe(4, 0.6)]}]
    r = record(orders[0]["probes"], {"A": 0.4, "B": 0.6}, 22, swap={"agree": False, "orders": orders})
    got = anytime.derive(r, 0.85, min_think=4)
    assert got["think_tokens"] == 4 + 12
    assert got["probabilities"] == pytest.approx({"A": (0.9 + 0.2) / 2, "B": (0.1 + 0.8) / 2})
    assert got["verdict"] == "A"


def gold_and_records():
    # Ten items: probes settle early and right on six, early and wrong on two, never on two.
    golds, records = [], []
    for i in range(10):
        right = "A" if i % 2 else "B"
        wrong = "B" if right == "A" else "A"
        lead = right if i < 6 else wrong
        early = {"A": 0.93, "B": 0.07} if lead == "A" else {"A": 0.07, "B": 0.93}
        final = {right: 0.8, wrong: 0.2}
        probes = [{"at": 0, "probabilities": {"A": 0.5, "B": 0.5}}]
        if i < 8:
            probes.append({"at": 16, "probabilities": early})
        golds.append({"id": i, "label": right})
        records.append({**record(probes, final, 100, id=i), "verdict": right})
    return golds, records


def test_curve_names_the_cheapest_p_within_a_point():
    golds, records = gold_and_records()
    result = anytime.curve(golds, records)
    rows = {row["setting"]: row for row in result["rows"]}
    assert result["n"] == 10 and result["min_think"] == 4
    assert rows["full reasoning"]["accuracy"] == 1.0 and rows["full reasoning"]["mean_think_tokens"] == 100
    assert rows["P=0.9"]["accuracy"] == 0.8 and rows["P=0.9"]["mean_think_tokens"] == (8 * 16 + 2 * 100) / 10
    assert rows["P=0.95"]["accuracy"] == 1.0 and rows["P=0.95"]["median_think_tokens"] == 100
    assert rows["token 0"]["mean_think_tokens"] == 0
    assert all(k in rows["P=0.6"] for k in ("kappa", "ece", "median_think_tokens"))
    # Only P above 0.93 keeps full accuracy, and they all cost the same: the lowest of them.
    assert result["recommended_think_until"] == 0.95
    assert anytime.curve(golds, [{**r, "probes": None} for r in records]) is None


def test_the_page_draws_the_curve():
    golds, records = gold_and_records()
    result = {"n": 10, "answered": 10, "abstained": 0, "errors": 0, "anytime": anytime.curve(golds, records)}
    page = report.render(result)
    assert "Stopping reasoning once settled" in page and "<polyline" in page
    assert page.count("<circle") == len(result["anytime"]["rows"])
    assert "--think-until 0.95" in page and "<script" not in page


def test_eval_reports_the_curve_from_recorded_verdicts(tmp_path, run_cli):
    golds, records = gold_and_records()
    gold_path, verdicts = tmp_path / "gold.jsonl", tmp_path / "verdicts.jsonl"
    gold_path.write_bytes(b"".join(orjson.dumps({**g, "task": "pairwise", "prompt": "p", "response_a": "a",
                                                 "response_b": "b"}) + b"\n" for g in golds))
    verdicts.write_bytes(b"".join(orjson.dumps({**r, "task": "pairwise"}) + b"\n" for r in records))
    page = tmp_path / "report.html"
    done = run_cli("eval", str(gold_path), "--verdicts", str(verdicts), "--report", str(page))
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)["anytime"]
    assert result["recommended_think_until"] == 0.95 and len(result["rows"]) == 2 + len(anytime.GRID)
    assert "<polyline" in page.read_text()


@pytest.mark.parametrize("broken", [
    {"probes": "all of them"},
    {"probes": [{"at": "0", "probabilities": {"A": 0.5, "B": 0.5}}]},
    {"probes": [{"at": 0, "probabilities": {"A": "high"}}]},
    {"probes": [{"at": True, "probabilities": {"A": 1.0}}]},
    {"think_tokens": -3},
    {"swap": {"orders": [{"probabilities": {"A": 1.0}, "think_tokens": 1, "probes": None}]}},
])
def test_records_read_back_that_are_not_as_written_are_left_out(broken):
    golds, records = gold_and_records()
    records[0] = {**records[0], **broken}
    result = anytime.curve(golds, records)
    assert result["n"] == 9 and result["left_out"] == 1
