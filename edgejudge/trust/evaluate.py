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
from edgejudge.errors import UsageError
from edgejudge.formats import JudgeOptions
from edgejudge.trust import abstain, calibration, clusters, metrics, store, verdict_files
from edgejudge.trust import gold as gold_files

MIN_CALIBRATION_ITEMS = 10


def label_text(value: object) -> str:
    """A gold label as verdicts write labels (see :func:`edgejudge.trust.gold.label_text`)."""
    return gold_files.label_text(value)


def read_gold(path: Path) -> list[dict]:
    """The items of a gold file, each line checked (:mod:`edgejudge.trust.gold`)."""
    return gold_files.read(path)


def read_records(path: Path) -> list[dict]:
    """The records of a verdict file, each checked (:mod:`edgejudge.trust.verdict_files`)."""
    return verdict_files.read(path)


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
            row["confidence"] = metrics.verdict_confidence(row["verdict"], row["probabilities"], swap)
            row["stage"] = record.get("stage")
        rows.append(row)
    names = clusters.assign([g["id"] for g in golds], [clusters.content_key(g) for g in golds])
    for row, name in zip(rows, names):
        row["cluster"] = name
    return rows


def record_task(record: dict | None, gold: dict) -> str:
    if record is not None and record.get("task"):
        return record["task"]
    return "pairwise" if "response_a" in gold else "pointwise"


def _stats(gold, pred, probs, conf=None) -> dict:
    conf = [metrics.confidence(p) for p in probs] if conf is None else conf
    correct = [g == p for g, p in zip(gold, pred)]
    return {"accuracy": metrics.accuracy(gold, pred), "kappa": metrics.cohen_kappa(gold, pred),
            "ece": metrics.ece(conf, correct), "brier": metrics.brier(probs, gold)}


def report(rows: list[dict], *, intervals: bool = True) -> dict:
    """The evaluation: counts, agreement, calibration, and the same per task and variant.
    Confidence and correctness are those of the verdict each record gives (a tie from a swap
    disagreement has its own confidence: :func:`metrics.verdict_confidence`)."""
    answered = [r for r in rows if r["status"] == "ok" and r.get("verdict") is not None]
    gold = [r["gold"] for r in answered]
    pred = [r["verdict"] for r in answered]
    probs = [r["probabilities"] for r in answered]
    conf = [r.get("confidence", metrics.confidence(r["probabilities"])) for r in answered]
    abstained = sum(r["status"] == "abstain" for r in rows)
    out: dict = {"n": len(rows), "answered": len(answered), "abstained": abstained,
                 "errors": sum(r["status"] not in ("ok", "abstain", "missing") for r in rows),
                 "missing": sum(r["status"] == "missing" for r in rows),
                 "coverage": len(answered) / len(rows) if rows else None, **_stats(gold, pred, probs, conf)}
    if any(r.get("raw_probabilities") for r in answered):
        raw = [r.get("raw_probabilities") or r["probabilities"] for r in answered]
        raw_pred = [max(p, key=p.__getitem__) for p in raw]
        raw_stats = _stats(gold, raw_pred, raw)
        out.update(accuracy_raw=raw_stats["accuracy"], kappa_raw=raw_stats["kappa"], ece_raw=raw_stats["ece"],
                   brier_raw=raw_stats["brier"])
    out["confusion"] = metrics.confusion(gold, pred, _label_order(gold + pred))
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
        out["intervals"], out["resamples"] = metrics.intervals(gold, pred, probs, conf)
        groups = collections.defaultdict(list)
        for r in rows:
            groups[f"{r['task']}/{r['variant'] or 'default'}"].append(r)
        out["groups"] = {name: _compact(report(group, intervals=False)) for name, group in sorted(groups.items())}
        out["calibration_check"] = calibration_check(rows)
    return out


def calibration_check(rows: list[dict], *, folds: int = 5) -> dict:
    """Per task: what a calibration fitted on these items would do to items it did not see
    (k folds, the items of a cluster in one fold): ECE and NLL of the model's own probabilities
    and of the held-out calibrated ones. Tasks with fewer than ``MIN_CALIBRATION_ITEMS`` usable
    items (a verdict's probabilities that hold the gold label) are left out."""
    tasks = collections.defaultdict(list)
    for r in rows:
        probs = r.get("raw_probabilities") or r.get("probabilities")
        if r["status"] in ("ok", "abstain") and isinstance(probs, dict) and r["gold"] in probs:
            tasks[r["task"]].append((probs, r["gold"], r.get("cluster", r["id"])))
    out = {}
    for task, usable in sorted(tasks.items()):
        if len(usable) < MIN_CALIBRATION_ITEMS:
            continue
        probs, gold, names = (list(x) for x in zip(*usable))
        checked = calibration.cross_validate(probs, gold, folds=folds, groups=names)
        out[task] = {"n": len(gold), "folds": checked["folds"],
                     "ece_raw": checked["raw"]["ece"], "ece_calibrated": checked["calibrated"]["ece"],
                     "nll_raw": checked["raw"]["nll"], "nll_calibrated": checked["calibrated"]["nll"]}
    return out


def _compact(sub: dict) -> dict:
    return {k: v for k, v in sub.items() if k not in ("reliability", "disagree", "confusion")}


def _label_order(labels: list[str]) -> list[str]:
    known = ["A", "B", "tie", "both_bad", "true", "false", "C", "D"]
    seen = set(labels)
    numbers = sorted((x for x in seen if x.isascii() and x.isdigit()), key=int)
    return [x for x in known if x in seen] + numbers + sorted(seen - set(known) - set(numbers))


# -- calibration -----------------------------------------------------------------------------

def calibrate(judge, golds: list[dict], records: list[dict], options: JudgeOptions, *, folds: int = 5,
              save: bool = True, target_error: float | None = None, delta: float = abstain.DEFAULT_DELTA) -> dict:
    """Fit one calibration per key from raw verdict records on gold items, report held-out ECE
    before and after (k folds, a cluster's items in one fold), and store each beside the model.

    The stored calibration set scores the verdict a user receives (a tie from a swap disagreement
    with its own confidence), with each item's cluster (:mod:`~edgejudge.trust.clusters`) and key.
    With ``target_error`` each entry also says whether the set is large enough for it."""
    groups: dict = {}
    skipped_errors = 0
    names = clusters.assign([g["id"] for g in golds], [clusters.content_key(g) for g in golds])
    for gold, record, cluster in zip(golds, _matched(golds, records), names):
        if record is None or record.get("status", "ok") != "ok" or not record.get("probabilities"):
            skipped_errors += 1
            continue
        item = items.make_item({k: v for k, v in gold.items() if k != "label"})
        key = store.key_for(judge, item, options)
        if key is None:
            raise UsageError("a calibration belongs to a local model file; a remote judge has none",
                             hint="calibrate with the GGUF locally (--backend local)")
        _check_record(judge, key, record)
        group = groups.setdefault(key, {"item": item, "probs": [], "gold": [], "swap": [], "cluster": [], "key": []})
        group["probs"].append(record.get("raw_probabilities") or record["probabilities"])
        group["gold"].append(gold["label"])
        group["swap"].append(record.get("swap"))
        group["cluster"].append(cluster)
        group["key"].append(clusters.item_key(item))
    entries: list[dict] = []
    out = {"calibrations": entries, "skipped_items": skipped_errors}
    for key, group in groups.items():
        independent = len(set(group["cluster"]))
        entry = {"key": key.describe(), "n": len(group["gold"]), "clusters": independent}
        if len(group["gold"]) < MIN_CALIBRATION_ITEMS:
            entry["skipped"] = f"fewer than {MIN_CALIBRATION_ITEMS} judged items"
            entries.append(entry)
            continue
        fitted = calibration.fit(group["probs"], group["gold"])
        checked = calibration.cross_validate(group["probs"], group["gold"], folds=folds, groups=group["cluster"])
        calibration_set = []
        for held, gold, swap, cluster, item_key in zip(checked["probabilities"], group["gold"], group["swap"],
                                                       group["cluster"], group["key"]):
            tie = isinstance(swap, dict) and "tie_confidence" in swap
            verdict = "tie" if tie else max(held, key=held.__getitem__)
            confidence = metrics.verdict_confidence(verdict, held, swap)
            calibration_set.append([round(confidence, 6), verdict == gold, cluster, item_key])
        labels = sorted({k for p in group["probs"] for k in p})
        held_out = {"folds": checked["folds"], "raw": checked["raw"], "calibrated": checked["calibrated"]}
        record = store.make_record(key, judge.format.template_sha256(), store.settings_for(judge, group["item"], options),
                                   fitted, n=len(group["gold"]), labels=labels, held_out=held_out,
                                   calibration_set=calibration_set)
        if save:
            entry["path"] = str(store.save(key, record))
        entry.update(id=record["id"], temperature=fitted.temperature, biases=dict(fitted.biases),
                     held_out=held_out)
        if target_error is not None:
            entry.update(_target_check(calibration_set, target_error, delta))
        entries.append(entry)
    return out


def _target_check(calibration_set: list[list], alpha: float, delta: float) -> dict:
    """Whether --target-error alpha (at delta) can give a threshold on this set, and a warning
    naming the number of independent items needed when the set is too small for it."""
    independent = len({entry[2] for entry in calibration_set})
    needed = abstain.min_items(alpha, delta)
    threshold = abstain.target_threshold([e[0] for e in calibration_set], [e[1] for e in calibration_set], alpha,
                                         delta, [e[2] for e in calibration_set])
    out: dict = {"target_error": {"alpha": alpha, "delta": delta, "needed": needed, "threshold": threshold}}
    if independent < needed:
        out["warning"] = (f"{independent} independent items (clusters) are too few for --target-error {alpha:g} at "
                          f"delta {delta:g}: it needs at least {needed} even if the judge made no error, and more "
                          "with errors; every item would be abstained on")
    elif threshold is None:
        out["warning"] = (f"no threshold reaches --target-error {alpha:g} at delta {delta:g} on this set: every item "
                          "would be abstained on (more items, or a larger alpha, may pass)")
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
