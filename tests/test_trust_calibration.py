"""Calibrations with the real SmolLM2: fitted from gold verdicts, stored beside the model, applied
to later verdicts (raw probabilities kept), turned off, and refused when the file, template or
settings changed (said once). Each test uses its own model store."""

import json
from pathlib import Path
import logging

import orjson
import pytest

from edgejudge.formats import JudgeOptions
from edgejudge.trust import calibration, evaluate, store

pytestmark = pytest.mark.model

RAW = JudgeOptions(explain=False)


def gold_items(n: int) -> list[dict]:
    """Arithmetic pairs with the right answer in A, then in B (the gold label follows it)."""
    out = []
    for i in range(1, n // 2 + 1):
        right, wrong = str(2 * i), (str(2 * i + 1) if i % 2 else f"It is {2 * i + 1}.")
        out.append({"id": f"q{i}-A", "prompt": f"What is {i} + {i}?", "response_a": right, "response_b": wrong,
                    "label": "A"})
        out.append({"id": f"q{i}-B", "prompt": f"What is {i} + {i}?", "response_a": wrong, "response_b": right,
                    "label": "B"})
    return out


@pytest.fixture(scope="module")
def judged(smollm2_judge):
    """12 gold items and SmolLM2's raw records for them (no calibration stored in the session store)."""
    golds = gold_items(12)
    records = evaluate.judge_all(smollm2_judge, golds, RAW)
    assert all(r["status"] == "ok" and "raw_probabilities" not in r for r in records)
    return golds, records


@pytest.fixture
def own_store(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_calibrate_stores_a_fit_beside_the_model(judged, smollm2_judge, own_store):
    golds, records = judged
    result = evaluate.calibrate(smollm2_judge, golds, records, RAW, folds=3)
    [entry] = result["calibrations"]
    path = (own_store / "models" / "smollm2-135m" / "Q4_1" / "calibration" / smollm2_judge.resolved.sha256[:16]
            / f"pairwise-think-off-swap-off-numerics-{store._safe(smollm2_judge.info.numerics_key)}.json")
    assert entry["path"] == str(path) and entry["n"] == 12 and entry["clusters"] == 6  # both orders: one item
    stored = json.loads(path.read_text())
    expected = calibration.fit([r["probabilities"] for r in records], [g["label"] for g in golds])
    assert stored["temperature"] == pytest.approx(expected.temperature)
    assert stored["biases"] == pytest.approx(expected.biases)
    assert [len({e[2] for e in stored["calibration_set"][i:i + 2]}) for i in range(0, 12, 2)] == [1] * 6
    assert stored["model"]["sha256"] == smollm2_judge.resolved.sha256 and stored["think"] is False
    assert stored["settings"]["explain"] is False and stored["template_sha256"] == smollm2_judge.format.template_sha256()
    assert len(stored["calibration_set"]) == 12 and entry["held_out"]["folds"] == 3
    assert entry["held_out"]["raw"]["ece"] == pytest.approx(
        evaluate.report(evaluate.join(golds, records), intervals=False)["ece"])


def test_stored_calibration_applies_to_later_verdicts(judged, smollm2_judge, own_store):
    golds, records = judged
    [entry] = evaluate.calibrate(smollm2_judge, golds, records, RAW)["calibrations"]
    fitted = calibration.Fit(entry["temperature"], entry["biases"])
    item = {k: v for k, v in golds[1].items() if k != "label"}
    verdict = smollm2_judge.judge(item, RAW).to_dict()
    # the same item again: equal up to the numerics of a different KV cache state
    assert verdict["raw_probabilities"] == pytest.approx(records[1]["probabilities"], abs=0.02)
    expected = calibration.apply(verdict["raw_probabilities"], fitted)
    assert verdict["probabilities"] == pytest.approx(expected, abs=2e-6)
    assert verdict["verdict"] == max(expected, key=expected.get)
    assert verdict["provenance"]["calibration"] == entry["id"]


def test_no_calibration_and_other_keys_give_the_raw_probabilities(judged, smollm2_judge, smollm2_path, own_store):
    from edgejudge import Judge

    golds, records = judged
    evaluate.calibrate(smollm2_judge, golds, records, RAW)
    item = {k: v for k, v in golds[0].items() if k != "label"}
    with Judge.load("smollm2-135m", calibration=False) as plain:
        verdict = plain.judge(item, RAW).to_dict()
    assert verdict["probabilities"] == pytest.approx(records[0]["probabilities"], abs=0.02)
    assert "raw_probabilities" not in verdict and "calibration" not in verdict["provenance"]
    swapped = smollm2_judge.judge(item, RAW, swap=True).to_dict()  # swap on: another key, none stored
    assert "raw_probabilities" not in swapped and "calibration" not in swapped["provenance"]


def test_changed_settings_or_file_make_it_inapplicable_said_once(judged, smollm2_judge, own_store, caplog):
    golds, records = judged
    [entry] = evaluate.calibrate(smollm2_judge, golds, records, RAW)["calibrations"]
    items = [{k: v for k, v in g.items() if k != "label"} for g in golds[:2]]
    with caplog.at_level(logging.WARNING, logger="edgejudge"):
        for item in items:  # explanation on: the probabilities come after other text
            verdict = smollm2_judge.judge(item, JudgeOptions(explain=True, max_explain_tokens=4)).to_dict()
            assert "raw_probabilities" not in verdict
    said = [r.getMessage() for r in caplog.records if "does not apply" in r.getMessage()]
    assert len(said) == 1 and "settings differ" in said[0] and "explain" in said[0]

    path = Path(entry["path"])
    stored = json.loads(path.read_text())
    for field, value, reason in ((("model", "sha256"), "0" * 64, "model file changed"),
                                 (("template_sha256",), "f" * 64, "template changed")):
        changed = json.loads(json.dumps(stored))
        target = changed
        for part in field[:-1]:
            target = target[part]
        target[field[-1]] = value
        path.write_text(json.dumps(changed))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edgejudge"):
            for item in items:
                verdict = smollm2_judge.judge(item, RAW).to_dict()
                assert "raw_probabilities" not in verdict and "calibration" not in verdict["provenance"]
        said = [r.getMessage() for r in caplog.records if "does not apply" in r.getMessage()]
        assert len(said) == 1 and reason in said[0]
    path.write_text(json.dumps(stored))  # restored: applies again
    assert smollm2_judge.judge(items[0], RAW).to_dict()["provenance"]["calibration"] == entry["id"]


def test_calibrate_and_eval_commands(judged, tmp_path, run_cli):
    golds, records = judged
    gold_file, verdict_file = tmp_path / "gold.jsonl", tmp_path / "raw.jsonl"
    gold_file.write_bytes(b"".join(orjson.dumps(g) + b"\n" for g in golds))
    verdict_file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    env = {"EDGEJUDGE_HOME": str(tmp_path / "home")}
    done = run_cli("calibrate", str(gold_file), "--verdicts", str(verdict_file), "--no-explain", "--folds", "4", env=env)
    assert done.returncode == 0, done.stderr.decode()
    [entry] = json.loads(done.stdout)["calibrations"]
    assert b"held-out ECE" in done.stderr and entry["held_out"]["folds"] == 4

    few = tmp_path / "few.jsonl"  # judging is the slow part: a few items show the command works
    few.write_bytes(b"".join(orjson.dumps(g) + b"\n" for g in golds[:4]))
    report = tmp_path / "report.html"
    evaluated = run_cli("eval", str(few), "--no-explain", "--swap", "-o", str(tmp_path / "v.jsonl"),
                        "--report", str(report), env=env)
    assert evaluated.returncode == 0, evaluated.stderr.decode()
    result = json.loads(evaluated.stdout)
    assert result["n"] == 4 and result["answered"] == 4
    assert "position_consistency" in result and result["length_bias"]["n_b_longer"] == 1
    assert "ece_raw" not in result  # the calibration is for swap off; this run swapped
    assert result["disagree"] == [r["id"] for r, g in zip(map(orjson.loads, (tmp_path / "v.jsonl").read_bytes().splitlines()),
                                                          golds) if r["verdict"] != g["label"]]
    assert "<svg" in report.read_text()

    calibrated = run_cli("eval", str(few), "--no-explain", env=env)
    result = json.loads(calibrated.stdout)
    raw = evaluate.report(evaluate.join(golds[:4], records[:4]))
    assert result["accuracy_raw"] == pytest.approx(raw["accuracy"])
    assert result["ece_raw"] == pytest.approx(raw["ece"], abs=0.02)
    assert set(result["groups"]) == {"pairwise/default"} and result["intervals"]["accuracy"]


def test_gold_files_are_checked(tmp_path, run_cli):
    bad = tmp_path / "gold.jsonl"
    bad.write_text('{"prompt": "p", "response_a": "a", "response_b": "b"}\n')
    done = run_cli("eval", str(bad), "--verdicts", str(bad))
    assert done.returncode == 5 and b"no gold 'label'" in done.stderr
    assert evaluate.label_text(3.0) == "3" and evaluate.label_text(True) == "true"
    assert store.Key("x", "Q8_0", "ab" * 32, "mr3", "binary", "math", True, False).filename() == \
        "binary-math-think-on-swap-off.json"


def test_a_hostile_stored_calibration_is_a_notice_not_a_crash(smollm2_judge, tmp_path, run_cli):
    """Issue cases: temperature 0 or NaN in a stored calibration gave exit 1 in `judge` and under
    `--target-error`. Now: one stderr line naming the file, the model's own probabilities, the
    record saying why, and a no_calibration error record under --target-error."""
    from edgejudge.items import make_item

    env = {"EDGEJUDGE_HOME": str(tmp_path / "home")}
    pair = {"prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5"}
    item = make_item(pair)
    key = store.key_for(smollm2_judge, item, RAW)
    key_path = tmp_path / "home" / key.path().relative_to(store.disk.home())
    record = store.make_record(key, smollm2_judge.format.template_sha256(), store.settings_for(smollm2_judge, item, RAW),
                               calibration.Fit(1.0), n=30, labels=["A", "B"], held_out={},
                               calibration_set=[[0.9, True, f"c{i}", f"i{i}"] for i in range(30)])
    key_path.parent.mkdir(parents=True)
    key_path.write_text(json.dumps({**record, "temperature": float("nan")}))
    judged = run_cli("judge", "--prompt", pair["prompt"], "--response-a", "4", "--response-b", "5", "--no-explain",
                     env=env)
    assert judged.returncode == 0, judged.stderr.decode()
    out = json.loads(judged.stdout)
    assert "calibration" not in out["provenance"] and "NaN is not JSON" in out["provenance"]["calibration_skipped"]
    notices = [line for line in judged.stderr.decode().splitlines() if str(key_path) in line]
    assert len(notices) == 1 and "NaN is not JSON" in notices[0]  # NaN is refused by the state reader
    source = tmp_path / "in.jsonl"
    source.write_bytes(orjson.dumps(pair) + b"\n" + orjson.dumps(pair) + b"\n")
    scored = run_cli("score", str(source), "--no-explain", "--target-error", "0.2", env=env)
    assert scored.returncode == 9, scored.stderr.decode()  # per-item error records, not exit 1
    assert [json.loads(line)["error"]["code"] for line in scored.stdout.splitlines()] == ["no_calibration"] * 2
