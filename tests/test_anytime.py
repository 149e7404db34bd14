"""Anytime verdicts on real llama.cpp: probes that leave no trace, --think-until, the records.

The judges are SmolLM2 (a plan built here, sampled) and the tiny synthetic judge GGUFs of each
reasoning family (random weights: their verdicts mean nothing; what is checked is that probing
changes nothing of what is reasoned, and that stopping where a probe settles is what the records
say it would be).
"""

import pytest

from edgejudge.errors import InputError
from edgejudge.formats import JudgeOptions
from edgejudge.items import make_item
from edgejudge.plan import Append, Generate, Plan, Probe, ReadLabels
from edgejudge.store.registry import Sampling
from edgejudge.trust import anytime

PAIR = {"prompt": "Which planet is largest?", "response_a": "Jupiter.", "response_b": "Mars."}


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    """SmolLM2 on one thread: on a shared, loaded machine two llama.cpp threads wait on each other
    (~1 s a token for a 135M model, against ~0.03 s on one)."""
    from edgejudge import Judge

    with Judge.load("smollm2-135m", threads=1, calibration=False) as judge:
        yield judge


def smollm2_plan(probe_every: int, until: float | None = None, min_think: int = 1) -> Plan:
    prompt = ("Question: which planet is largest, A) Jupiter or B) Mars? Think it through, step by step, "
              "before you answer.\nThoughts:")
    probe = None
    if probe_every:
        probe = Probe("\nAnswer:", (" A", " B"), ("A", "B"), every=probe_every, until=until, min_think=min_think)
    think = Generate("reasoning", 64, stop=("\x00never\x00",), close="\nAnswer:",
                     sampling=Sampling(temperature=1.0, top_p=0.95), think=True, probe=probe)
    return Plan(((prompt, False),), (think, ReadLabels("verdict", (" A", " B"))))


def fresh_run(engine, plan, seed=7):
    engine.truncate(0)  # as when run alone: what earlier tests cached changes the last digits
    return engine.run(plan, seed=seed)


def test_probes_leave_no_trace_on_smollm2(smollm2):
    engine = smollm2.engine
    plain = fresh_run(engine, smollm2_plan(0))
    cached = list(engine.tokens)
    probed = fresh_run(engine, smollm2_plan(3))
    # A probe's tokens are gone from the cache: it holds exactly what the unprobed run left.
    assert engine.tokens == cached
    assert plain.think_tokens == probed.think_tokens == 64
    assert probed.texts["reasoning"] == plain.texts["reasoning"]
    # A probe every 3 tokens, at token 0, and at transitions in between.
    ats = [p["at"] for p in probed.probes]
    assert ats[0] == 0 and len(ats) >= 64 // 3 and ats == sorted(set(ats))
    assert plain.probes == [] and plain.think_exit == probed.think_exit == "budget"
    # What follows the reasoning is read from the same cache state: the same numbers, to the bit.
    assert probed.labels["verdict"].probabilities == plain.labels["verdict"].probabilities


def test_think_until_on_smollm2_stops_at_the_first_settled_probe(smollm2):
    engine = smollm2.engine
    full = fresh_run(engine, smollm2_plan(4))
    after = [p for p in full.probes if p["at"] >= 8]
    target = after[len(after) // 2]
    until = max(target["probabilities"].values())
    first = next(p for p in after if max(p["probabilities"].values()) >= until)
    stopped = fresh_run(engine, smollm2_plan(4, until=until, min_think=8))
    assert stopped.think_exit == "settled" and stopped.think_tokens == first["at"]
    assert full.texts["reasoning"].startswith(stopped.texts["reasoning"])
    assert stopped.probes == [p for p in full.probes if p["at"] <= first["at"]]
    # The verdict after the forced close is the settled probe's read: the same text was fed.
    read = stopped.labels["verdict"].probabilities
    assert {"A": read[" A"], "B": read[" B"]} == first["probabilities"]


@pytest.mark.parametrize("family, budget", [("mr3", 48), ("rubricrm", 40), ("rmr1", 40)])
def test_family_reasoning_is_the_same_with_and_without_probes(family_judges, family, budget):
    judge = family_judges[family]
    record = {"task": "pairwise", **PAIR}
    if family == "rubricrm":
        record["rubric"] = "1. The answer is correct."
    results = []
    for every in (0, 3):
        judge.engine.truncate(0)
        results.append(judge.judge(record, think_budget=budget, probe_every=every, explain=False,
                                   keep_reasoning=True, seed=11))
    plain, probed = results
    assert probed.reasoning == plain.reasoning and probed.think_tokens == plain.think_tokens
    assert probed.probabilities == plain.probabilities
    assert plain.probes == [] and probed.probes and probed.probes[0]["at"] == 0
    assert plain.think_exit == probed.think_exit in ("closed", "budget")
    for probe in probed.probes:
        assert set(probe["probabilities"]) == {"A", "B"} and sum(probe["probabilities"].values()) == pytest.approx(1)


def test_derived_verdict_equals_a_real_think_until_run(family_judges):
    """eval's derivation (trust/anytime.py) against a real --think-until run with the same seed."""
    judge = family_judges["mr3"]
    item = {"id": 1, "task": "pairwise", **PAIR}
    base = dict(think_budget=60, probe_every=4, min_think=8, explain=False, seed=5)
    judge.engine.truncate(0)
    full = judge.judge(item, **base).to_dict()
    leads = sorted({max(p["probabilities"].values()) for p in full["probes"] if p["at"] >= 8})
    assert leads, "the run took probes after min_think"
    for until in (leads[len(leads) // 2], leads[-1], 1.0):
        derived = anytime.derive(full, until, min_think=8)
        judge.engine.truncate(0)
        real = judge.judge(item, **base, think_until=until).to_dict()
        assert real["verdict"] == derived["verdict"]
        assert real["think_tokens"] == derived["think_tokens"]
        assert real["probabilities"] == pytest.approx(derived["probabilities"], abs=2e-6)
        settled = anytime._settle(full["probes"], until, 8)
        assert real["think_exit"] == ("settled" if settled else full["think_exit"])


def test_derived_verdict_with_swap_equals_a_real_run(family_judges):
    judge = family_judges["mr3"]
    item = {"id": 2, "task": "pairwise", **PAIR}
    base = dict(think_budget=40, probe_every=4, min_think=4, explain=False, seed=3, swap=True)
    judge.engine.truncate(0)
    full = judge.judge(item, **base).to_dict()
    orders = full["swap"]["orders"]
    assert [o["order"] for o in orders] == ["as given", "swapped"]
    assert all(o["probes"] and o["think_exit"] for o in orders)
    assert full["probes"] == orders[0]["probes"] and full["think_tokens"] == sum(o["think_tokens"] for o in orders)
    leads = sorted({max(p["probabilities"].values()) for o in orders for p in o["probes"] if p["at"] >= 4})
    until = leads[len(leads) // 2]
    derived = anytime.derive(full, until, min_think=4)
    judge.engine.truncate(0)
    real = judge.judge(item, **base, think_until=until).to_dict()
    assert real["verdict"] == derived["verdict"] and real["think_tokens"] == derived["think_tokens"]
    assert real["probabilities"] == pytest.approx(derived["probabilities"], abs=2e-6)


def test_records_say_how_reasoning_ended(family_judges):
    judge = family_judges["mr3"]
    thought = judge.judge({"task": "pairwise", **PAIR}, think_budget=6, max_explain_tokens=4).to_dict()
    assert thought["think_exit"] in ("closed", "budget") and thought["probes"][0]["at"] == 0
    quick = judge.judge({"task": "pairwise", **PAIR}, think=False, explain=False).to_dict()
    assert quick["think_exit"] is None and quick["probes"] is None and quick["think_tokens"] == 0
    off = judge.judge({"task": "pairwise", **PAIR}, think_budget=6, probe_every=0, explain=False).to_dict()
    assert off["probes"] == [] and off["think_exit"] in ("closed", "budget")


def test_think_until_with_rubric_variants_and_the_thinking_stage(family_judges):
    from edgejudge.trust.cascade import TrustedJudge
    from edgejudge.trust import abstain

    judge = family_judges["mr3"]
    averaged = judge.judge({"task": "pairwise", **PAIR}, think_budget=24, probe_every=4, min_think=4, think_until=0.01, rubric_variants=2,
                           explain=False).to_dict()
    # Every variant stops at its first probe from min_think on (P=0.01 is always reached).
    assert averaged["think_exit"] == "settled" and averaged["probes"][-1]["at"] >= 4
    assert [p for p in averaged["probes"] if p["at"] >= 4] == averaged["probes"][-1:]
    cascade = TrustedJudge(judge, policy=abstain.Policy(abstain_below=1.0), escalate="think")
    result = cascade.judge({"task": "pairwise", **PAIR}, think_budget=24, probe_every=4, min_think=4,
                           think_until=0.01, explain=False).to_dict()
    think = result["stages"][1]
    assert think["stage"] == "think" and result["think_exit"] == "settled"
    assert think["think_tokens"] == result["probes"][-1]["at"] >= 4


def test_bad_anytime_values_are_clear_errors_in_the_api(family_judges):
    judge = family_judges["mr3"]
    for bad in ({"think_until": 0}, {"think_until": 1.01}, {"think_until": "0.9"}, {"min_think": 0},
                {"probe_every": -1}, {"think_until": 0.9, "probe_every": 0}):
        with pytest.raises(InputError) as err:
            judge.judge({"task": "pairwise", **PAIR}, **bad)
        assert err.value.code == "bad_options" and next(iter(bad)) in err.value.message


def test_the_plan_probes_with_the_budget_paths_text(family_judges):
    fmt = family_judges["rmr1"].format
    plan = fmt.plan(make_item({"task": "pairwise", **PAIR}), JudgeOptions(think_until=0.9, min_think=32))
    think = plan.steps[0]
    assert isinstance(think, Generate) and think.probe is not None
    assert think.probe.text == think.close + "<answer>[["
    assert (think.probe.until, think.probe.min_think, think.probe.labels) == (0.9, 32, ("A", "B"))
    assert fmt.plan(make_item({"task": "pairwise", **PAIR}), JudgeOptions(probe_every=0)).steps[0].probe is None
    # Without reasoning there is nothing to probe.
    quick = fmt.plan(make_item({"task": "pairwise", **PAIR}), JudgeOptions(think=False, think_until=0.9))
    assert not any(isinstance(s, Generate) and s.probe for s in quick.steps) and isinstance(quick.steps[0], Append)
