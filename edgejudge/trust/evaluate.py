"""Verdicts against gold labels: ``edgejudge eval`` and ``edgejudge calibrate`` as library calls.

A gold file is JSON Lines of items, as ``edgejudge score`` reads them, each with a ``label``: a
verdict label (``"A"``, ``"tie"``, ``"true"``…) or, for scored tasks, the score. Verdict records
(judged here, or read from an earlier ``score`` output) are matched to the gold items by id (the
line number when an item has none), in order.
"""

from __future__ import annotations

import collections
from pathlib import Path

import orjson

from edgejudge import items
from edgejudge.errors import InputError, UsageError
from edgejudge.formats import JudgeOptions
from edgejudge.trust import calibration, metrics, store

MIN_CALIBRATION_ITEMS = 10


def label_text(value: object) -> str:
    """A gold label as verdicts write labels: text, ``true``/``false``, a whole score as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int)):
        return str(value)
    raise InputError(f"a gold label must be a string, a number or a boolean, not {type(value).__name__}",
                     code="bad_type")


def read_gold(path: Path) -> list[dict]:
    """The items of a gold file, each with its ``id`` (the line number when absent) and ``label``."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    golds = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path} line {n} is not valid JSON: {exc}", code="bad_json") from None
        if not isinstance(value, dict) or value.get("label") is None:
            raise InputError(f"{path} line {n} has no gold 'label'", code="missing_field",
                             hint='each item needs the right answer, e.g. "label": "A" (or a score)')
        golds.append({**value, "id": value.get("id", n), "label": label_text(value["label"])})
    if not golds:
        raise UsageError(f"{path} holds no items")
    return golds


def read_records(path: Path) -> list[dict]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    out = []
    for n, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                raise UsageError(f"{path} line {n} is not a record edgejudge wrote") from None
    return out


def judge_all(judge, golds: list[dict], options: JudgeOptions) -> list[dict]:
    """Judge the gold items (their labels are not shown to the judge) into output records."""
    return list(judge.score_many([{k: v for k, v in g.items() if k != "label"} for g in golds], options))


def _key(ident) -> str:
    return orjson.dumps(ident).decode()


def join(golds: list[dict], records: list[dict]) -> list[dict]:
    """One row per gold item: its gold label, task, variant, and what its record says."""
    rows = []
    for gold, record in zip(golds, _matched(golds, records)):
        a, b = gold.get("response_a"), gold.get("response_b")
        longer = None
        if isinstance(a, str) and isinstance(b, str) and len(a) != len(b):
            longer = "A" if len(a) > len(b) else "B"
        row = {"id": gold["id"], "gold": gold["label"], "task": gold.get("task") or record_task(record, gold),
               "variant": gold.get("variant") or "", "longer": longer,
               "status": "missing" if record is None else record.get("status", "ok")}
        if record is not None and row["status"] in ("ok", "abstain"):
            row["verdict"] = record.get("verdict")
            row["probabilities"] = record.get("probabilities") or {}
            row["raw_probabilities"] = record.get("raw_probabilities")
            swap = record.get("swap")
            row["agree"] = swap.get("agree") if isinstance(swap, dict) else None
            row["stage"] = record.get("stage")
        rows.append(row)
    return rows


def record_task(record: dict | None, gold: dict) -> str:
    if record is not None and record.get("task"):
        return record["task"]
    return "pairwise" if "response_a" in gold else "pointwise"


def _stats(gold, pred, probs) -> dict:
    conf = [metrics.confidence(p) for p in probs]
    correct = [g == p for g, p in zip(gold, pred)]
    return {"accuracy": metrics.accuracy(gold, pred), "kappa": metrics.cohen_kappa(gold, pred),
            "ece": metrics.ece(conf, correct), "brier": metrics.brier(probs, gold)}


def report(rows: list[dict], *, intervals: bool = True) -> dict:
    """The evaluation: counts, agreement, calibration, and the same per task and variant."""
    answered = [r for r in rows if r["status"] == "ok" and r.get("verdict") is not None]
    gold = [r["gold"] for r in answered]
    pred = [r["verdict"] for r in answered]
    probs = [r["probabilities"] for r in answered]
    abstained = sum(r["status"] == "abstain" for r in rows)
    out: dict = {"n": len(rows), "answered": len(answered), "abstained": abstained,
                 "errors": sum(r["status"] not in ("ok", "abstain") for r in rows),
                 "coverage": len(answered) / len(rows) if rows else None, **_stats(gold, pred, probs)}
    if any(r.get("raw_probabilities") for r in answered):
        raw = [r.get("raw_probabilities") or r["probabilities"] for r in answered]
        raw_pred = [max(p, key=p.__getitem__) for p in raw]
        raw_stats = _stats(gold, raw_pred, raw)
        out.update(accuracy_raw=raw_stats["accuracy"], kappa_raw=raw_stats["kappa"], ece_raw=raw_stats["ece"],
                   brier_raw=raw_stats["brier"])
    out["confusion"] = metrics.confusion(gold, pred, _label_order(gold + pred))
    conf = [metrics.confidence(p) for p in probs]
    out["reliability"] = metrics.reliability(conf, [g == p for g, p in zip(gold, pred)])
    agree = [r["agree"] for r in answered if r.get("agree") is not None]
    if agree:
        out["position_consistency"] = metrics.position_consistency(agree)
    if any(r["longer"] for r in answered):
        out["length_bias"] = metrics.length_bias(gold, pred, [r["longer"] for r in answered])
    stages = collections.Counter(r["stage"] for r in answered if r.get("stage"))
    if stages:
        out["decided_by"] = dict(stages)
    out["disagree"] = [r["id"] for r in answered if r["verdict"] != r["gold"]]
    if intervals:
        out["intervals"] = _intervals(gold, pred, probs)
        groups = collections.defaultdict(list)
        for r in rows:
            groups[f"{r['task']}/{r['variant'] or 'default'}"].append(r)
        out["groups"] = {name: _compact(report(group, intervals=False)) for name, group in sorted(groups.items())}
    return out


def _compact(sub: dict) -> dict:
    return {k: v for k, v in sub.items() if k not in ("reliability", "disagree", "confusion")}


def _label_order(labels: list[str]) -> list[str]:
    known = ["A", "B", "tie", "both_bad", "true", "false", "C", "D"]
    seen = set(labels)
    numbers = sorted((x for x in seen if x.isdigit()), key=int)
    return [x for x in known if x in seen] + numbers + sorted(seen - set(known) - set(numbers))


def _intervals(gold, pred, probs) -> dict:
    """Bootstrap intervals, vectorised: per-item terms are computed once and resampled."""
    import numpy as np

    n = len(gold)
    labels = sorted(set(gold) | set(pred))
    g = np.array([labels.index(x) for x in gold], dtype=int)
    p = np.array([labels.index(x) for x in pred], dtype=int)
    correct = (g == p).astype(float)
    conf = np.array([metrics.confidence(x) for x in probs])
    bins = np.minimum((conf * metrics.BINS).astype(int), metrics.BINS - 1)
    brier = np.array([metrics.brier([x], [y]) for x, y in zip(probs, gold)])

    def kappa(idx):
        k = len(labels)
        p_e = float((np.bincount(g[idx], minlength=k) * np.bincount(p[idx], minlength=k)).sum()) / len(idx) ** 2
        return None if np.isclose(p_e, 1.0) else (correct[idx].mean() - p_e) / (1 - p_e)

    def ece(idx):
        count = np.bincount(bins[idx], minlength=metrics.BINS)
        gap = np.bincount(bins[idx], weights=correct[idx] - conf[idx], minlength=metrics.BINS)
        return float(np.abs(gap).sum() / len(idx)) if count.any() else None

    return {"accuracy": metrics.bootstrap(lambda idx: float(correct[idx].mean()), n),
            "kappa": metrics.bootstrap(kappa, n), "ece": metrics.bootstrap(ece, n),
            "brier": metrics.bootstrap(lambda idx: float(brier[idx].mean()), n)}


# -- calibration -----------------------------------------------------------------------------

def calibrate(judge, golds: list[dict], records: list[dict], options: JudgeOptions, *, folds: int = 5,
              save: bool = True) -> dict:
    """Fit one calibration per key from raw verdict records on gold items, report held-out ECE
    before and after (k folds), and store each beside the model."""
    groups: dict = {}
    skipped_errors = 0
    for gold, record in zip(golds, _matched(golds, records)):
        if record is None or record.get("status", "ok") != "ok" or not record.get("probabilities"):
            skipped_errors += 1
            continue
        item = items.make_item({k: v for k, v in gold.items() if k != "label"})
        key = store.key_for(judge, item, options)
        if key is None:
            raise UsageError("a calibration belongs to a local model file; a remote judge has none",
                             hint="calibrate with the GGUF locally (--backend local)")
        _check_record(judge, key, record)
        group = groups.setdefault(key, {"item": item, "probs": [], "gold": []})
        group["probs"].append(record.get("raw_probabilities") or record["probabilities"])
        group["gold"].append(gold["label"])
    entries: list[dict] = []
    out = {"calibrations": entries, "skipped_items": skipped_errors}
    for key, group in groups.items():
        entry = {"key": key.describe(), "n": len(group["gold"])}
        if len(group["gold"]) < MIN_CALIBRATION_ITEMS:
            entry["skipped"] = f"fewer than {MIN_CALIBRATION_ITEMS} judged items"
            entries.append(entry)
            continue
        fitted = calibration.fit(group["probs"], group["gold"])
        checked = calibration.cross_validate(group["probs"], group["gold"], folds=folds)
        held = checked["probabilities"]
        calibration_set = [[round(metrics.confidence(p), 6), max(p, key=p.__getitem__) == g]
                           for p, g in zip(held, group["gold"])]
        labels = sorted({k for p in group["probs"] for k in p})
        held_out = {"folds": checked["folds"], "raw": checked["raw"], "calibrated": checked["calibrated"]}
        record = store.make_record(key, judge.format.template_sha256(), store.settings_for(judge, group["item"], options),
                                   fitted, n=len(group["gold"]), labels=labels, held_out=held_out,
                                   calibration_set=calibration_set)
        if save:
            entry["path"] = str(store.save(key, record))
        entry.update(id=record["id"], temperature=fitted.temperature, position_bias=fitted.position_bias,
                     held_out=held_out)
        entries.append(entry)
    return out


def _check_record(judge, key: store.Key, record: dict) -> None:
    """A verdict record read from a file must come from this model file and prompt template."""
    sha = (record.get("model") or {}).get("sha256")
    template = (record.get("provenance") or {}).get("template_sha256")
    if sha != key.sha256 or template != judge.format.template_sha256():
        raise UsageError(f"verdict record {record.get('id')!r} was not made by {key.model_id}:{key.quant} with "
                         "this prompt template", hint="fit on verdicts of the same model (or judge the items again)")


def matched(golds: list[dict], records: list[dict]) -> list[dict | None]:
    """Each gold item's record (by id, in order), or None."""
    return _matched(golds, records)


def _matched(golds: list[dict], records: list[dict]) -> list[dict | None]:
    by_id: dict[str, collections.deque] = collections.defaultdict(collections.deque)
    for record in records:
        by_id[_key(record.get("id"))].append(record)
    out = []
    for gold in golds:
        queue = by_id.get(_key(gold["id"]))
        out.append(queue.popleft() if queue else None)
    return out
