"""Stored calibrations are untrusted input: a record with any hostile value (wrong types, NaN or
infinity, missing or extra keys) is refused with one stderr line naming the file and the problem,
never applied, never a crash or a hang; a calibration belongs to one model file (its sha256) and
one numerics setting. The judge here is the real generic format over a described model file
(no weights are needed to find, check and apply a calibration)."""

import hashlib
import json
import logging
import math
import os
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgejudge.errors import InputError
from edgejudge.formats import JudgeOptions
from edgejudge.formats.format import Format
from edgejudge.items import make_item
from edgejudge.judging.verdict import Verdict
from edgejudge.trust import abstain, calibration, schema, store
from edgejudge.trust.cascade import TrustedJudge

SHA = "ab" * 32
OPTIONS = JudgeOptions(explain=False)
ITEM = make_item({"prompt": "2+2?", "response_a": "4", "response_b": "5"})


def fake_judge(sha: str = SHA, model_id: str = "smollm2-135m"):
    described = {"id": model_id, "quant": "Q4_1", "sha256": sha, "family": "generic"}
    template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    judge = SimpleNamespace(format=Format("generic", chat_template=template), settings=None,
                            resolved=SimpleNamespace(id=model_id, describe=lambda: dict(described)))
    judge.calibration = store.Applier(judge)
    return judge


def valid_record(judge) -> dict:
    key = store.key_for(judge, ITEM, OPTIONS)
    fitted = calibration.Fit(2.0, {"A": 0.25, "B": -0.25})
    entries = [[0.9, True, f"c{i}", f"i{i}"] for i in range(30)]
    return store.make_record(key, judge.format.template_sha256(), store.settings_for(judge, ITEM, OPTIONS), fitted,
                             n=30, labels=["A", "B"], held_out={}, calibration_set=entries)


def verdict() -> Verdict:
    return Verdict(task="pairwise", verdict="A", probabilities={"A": 0.8, "B": 0.2}, label_mass=1.0, model={})


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_valid_record_applies_and_its_parameters_are_a_plain_dict(home):
    judge = fake_judge()
    record = valid_record(judge)
    path = store.save(store.key_for(judge, ITEM, OPTIONS), record)
    assert path == home / "models" / "smollm2-135m" / "Q4_1" / "calibration" / SHA[:16] / \
        "pairwise-think-off-swap-off.json"
    assert schema.problem(json.loads(path.read_text())) is None
    made = judge.calibration.apply(ITEM, OPTIONS, verdict())
    assert made.provenance["calibration"] == record["id"] and "calibration_skipped" not in made.provenance
    # rounded to 6 places, as every record's probabilities are
    assert made.probabilities == pytest.approx(calibration.apply({"A": 0.8, "B": 0.2}, store.fit_of(record)), abs=1e-6)
    assert store.fit_of(record).describe() == {"method": "temperature+bias", "temperature": 2.0,
                                               "biases": {"A": 0.25, "B": -0.25}}


def test_a_file_sharing_a_registered_name_never_shares_its_calibration(home):
    registered, impostor = fake_judge(SHA), fake_judge("cd" * 32)  # same id and quant, another file
    store.save(store.key_for(registered, ITEM, OPTIONS), valid_record(registered))
    impostor_key = store.key_for(impostor, ITEM, OPTIONS)
    assert impostor_key.path() != store.key_for(registered, ITEM, OPTIONS).path()
    assert impostor.calibration.check(ITEM, OPTIONS) == (None, None)  # nothing stored for this file
    store.save(impostor_key, valid_record(impostor))
    assert registered.calibration.lookup(ITEM, OPTIONS)["model"]["sha256"] == SHA  # not overwritten
    assert impostor.calibration.lookup(ITEM, OPTIONS)["model"]["sha256"] == "cd" * 32


def test_the_numerics_key_has_one_place(home, monkeypatch):
    judge = fake_judge()
    store.save(store.key_for(judge, ITEM, OPTIONS), valid_record(judge))
    monkeypatch.setattr(store, "numerics_for", lambda judge: "threads=4;flash=on")
    key = store.key_for(judge, ITEM, OPTIONS)
    assert key.numerics == "threads=4;flash=on" and "-numerics-" in key.filename()
    assert judge.calibration.check(ITEM, OPTIONS) == (None, None)  # another file: nothing stored for it
    store.save(key, valid_record(judge))
    assert judge.calibration.lookup(ITEM, OPTIONS)["numerics"] == "threads=4;flash=on"


HOSTILE_NUMBERS = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0, -1, 0.0, 1e300, -1e-300, True,
                                   False, None, "2.0", [], {}, [2.0], {"t": 2.0}])
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _not(kind):
    return JUNK.filter(lambda v: not isinstance(v, kind) or isinstance(v, bool) and kind is not bool)


MUTATIONS = st.one_of(
    st.tuples(st.just(("temperature",)), HOSTILE_NUMBERS),
    st.tuples(st.just(("biases", "A")), HOSTILE_NUMBERS.filter(lambda v: not (isinstance(v, (int, float))
                                                                              and math.isfinite(v) and abs(v) <= 1e6))),
    st.tuples(st.just(("biases",)), _not(dict)),
    st.tuples(st.sampled_from([("model",), ("settings",), ("held_out",)]), _not(dict)),
    st.tuples(st.sampled_from([("model", k) for k in schema.MODEL_FIELDS] + [("task",), ("variant",), ("numerics",),
                                                                               ("template_sha256",), ("method",)]),
              _not(str)),
    st.tuples(st.sampled_from([("think",), ("swap",)]), _not(bool)),
    st.tuples(st.just(("id",)), st.one_of(_not(str), st.just(""))),
    st.tuples(st.just(("n",)), st.one_of(_not(int), st.integers(max_value=-1), st.just(True))),
    st.tuples(st.just(("version",)), JUNK.filter(lambda v: v != schema.VERSION)),
    st.tuples(st.just(("calibration_set",)), _not(list)),
    st.tuples(st.sampled_from([("calibration_set", 3, 0)]), HOSTILE_NUMBERS.filter(
        lambda v: not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1))),
    st.tuples(st.sampled_from([("calibration_set", 3, 1)]), _not(bool)),
    st.tuples(st.sampled_from([("calibration_set", 3, 2), ("calibration_set", 3, 3)]),
              st.one_of(_not(str), st.just(""))),
    st.tuples(st.just(("calibration_set", 3)), st.one_of(_not(list), st.lists(st.floats(), max_size=3))),
    st.tuples(st.sampled_from([("delete", k) for k in schema.FIELDS] + [("delete_model", k) for k in schema.MODEL_FIELDS]),
              st.none()),
    st.tuples(st.just(("extra",)), st.text(min_size=1, max_size=8).filter(lambda k: k not in schema.FIELDS)),
)


def mutate(record: dict, path: tuple, value) -> dict:
    record = json.loads(json.dumps(record))
    if path[0] == "delete":
        del record[path[1]]
    elif path[0] == "delete_model":
        del record["model"][path[1]]
    elif path[0] == "extra":
        record[value] = 1
    else:
        target = record
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return record


@settings(deadline=None)  # each example writes and reads a file: slow on a loaded machine, never wrong
@given(mutation=MUTATIONS)
def test_hostile_stored_values_are_refused_said_once_and_never_applied(mutation):
    judge = fake_judge(sha=hashlib.sha256(repr(mutation).encode()).hexdigest())  # each example its own file
    path = store.key_for(judge, ITEM, OPTIONS).path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mutate(valid_record(judge), *mutation)))  # NaN/Infinity as Python's json writes them
    record, problem = store.read(path)
    assert record is None and isinstance(problem, str) and problem
    logs = []
    handler = logging.Handler()
    handler.emit = logs.append
    logging.getLogger("edgejudge").addHandler(handler)
    try:
        made = [judge.calibration.apply(ITEM, OPTIONS, verdict()) for _ in range(3)]
    finally:
        logging.getLogger("edgejudge").removeHandler(handler)
    for one in made:
        assert one.probabilities == {"A": 0.8, "B": 0.2} and "calibration" not in one.provenance
        assert one.provenance["calibration_skipped"] == f"invalid: {problem}"
    assert len(logs) == 1 and str(path) in logs[0].getMessage() and problem in logs[0].getMessage()
    trusted = TrustedJudge(judge, policy=abstain.Policy(target_error=0.2))
    with pytest.raises(InputError) as refused:  # an error record for the item, not a crash or a hang
        trusted.threshold(0, ITEM, OPTIONS)
    assert refused.value.code == "no_calibration" and "not applied" in str(refused.value)


def test_a_fifo_a_directory_a_huge_file_and_bad_json_are_refused(home):
    judge = fake_judge()
    path = store.key_for(judge, ITEM, OPTIONS).path()
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # a FIFO with no writer: opening it to read must not wait
    assert "is a FIFO" in store.read(path)[1]
    path.unlink()
    path.mkdir()
    assert "is a directory" in store.read(path)[1]
    path.rmdir()
    with open(path, "wb") as handle:
        handle.truncate(schema.MAX_BYTES + 1)
    assert "more than the" in store.read(path)[1]
    for text in ("{", "[" * 100_000 + "]" * 100_000, "[]", "null"):
        path.write_text(text)
        record, problem = store.read(path)
        assert record is None and problem
    path.unlink()
    assert store.read(path) == (None, None)


def test_calibrate_scores_the_emitted_verdict_and_warns_when_the_set_is_too_small(home):
    from edgejudge.trust import evaluate

    judge = fake_judge()
    golds, records = [], []
    for i in range(8):  # 8 pairs in both orders: 16 records, 8 independent items
        for order, (a, b, label) in enumerate(((f"{i}", "x", "A"), ("x", f"{i}", "B"))):
            golds.append({"id": f"q{i}-{order}", "prompt": f"p{i}", "response_a": a, "response_b": b, "label": label})
            tie = i < 2  # the orders disagreed: the emitted verdict is a tie, wrong against A or B
            records.append({"id": f"q{i}-{order}", "status": "ok", "verdict": "tie" if tie else label,
                            "probabilities": {label: 0.9, "B" if label == "A" else "A": 0.1},
                            "swap": {"agree": not tie, **({"tie_confidence": 0.2} if tie else {})},
                            "model": {"sha256": SHA}, "provenance": {"template_sha256": judge.format.template_sha256()}})
    result = evaluate.calibrate(judge, golds, records, OPTIONS, folds=4, target_error=0.2, delta=0.1)
    [entry] = result["calibrations"]
    assert entry["n"] == 16 and entry["clusters"] == 8
    assert entry["target_error"]["needed"] == 11 and "needs at least 11" in entry["warning"]
    stored = json.loads(open(entry["path"]).read())
    ties = [e for e in stored["calibration_set"] if e[0] == 0.2]
    assert len(ties) == 4 and not any(e[1] for e in ties)  # scored as the tie the user received
    assert all(e[1] for e in stored["calibration_set"] if e[0] != 0.2)
    assert schema.problem(stored) is None
