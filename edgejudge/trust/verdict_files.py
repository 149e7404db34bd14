"""Verdict files given to ``eval --verdicts`` and ``calibrate --verdicts``, checked record by record.

A verdict file is the output of an earlier ``edgejudge score`` run, but it reaches edgejudge as
any file does: it may have been edited, cut, or made by another program. Every field that
``eval`` and ``calibrate`` read is checked before they use any record:

* the line is a JSON object with an ``id`` (a string or an integer);
* ``status`` is one a record can have (:data:`edgejudge.judging.verdict.STATUSES`; ``ok`` when
  absent); ``task``, when given, is a task name;
* ``verdict`` is a string or null; ``stage`` a string or null; ``swap`` an object or null whose
  ``agree`` is true, false or null;
* ``probabilities`` and ``raw_probabilities`` (when not null or empty; an ``ok`` record with a
  verdict must have ``probabilities``) map labels to numbers
  that are each within [0, 1] and together sum to 1 within :data:`SUM_TOLERANCE` (edgejudge
  writes 6 decimals that sum to 1 exactly; the tolerance leaves room for a file written with
  fewer). A negative, huge or non-numeric probability is refused, never fitted;
* ``model`` and ``provenance`` are objects or null; ``model.sha256``, ``model.id``,
  ``model.quant`` and ``provenance.template_sha256`` strings or null.

Bad records are not skipped: every one is named with its line number (the first
:data:`SHOWN` in full, the rest counted), and the command stops with exit 5 before any figure is
computed or any calibration fitted, so that a fit never silently uses fewer items than the file
holds. The error records of a ``score`` run are valid records: ``eval`` counts them as errors, and
``calibrate`` says how many gold items it fitted without.
"""

from __future__ import annotations

import math
from pathlib import Path

import orjson

from edgejudge import items, json_errors
from edgejudge.errors import InputError, UsageError
from edgejudge.judging.verdict import STATUSES

SUM_TOLERANCE = 1e-3
SHOWN = 20


class BadRecord(ValueError):
    """One problem with one record (its message names the field)."""


def read(path: Path) -> list[dict]:
    """The records of a verdict file, every one checked (see the module docstring)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the verdict file {path}: {exc.strerror}") from None
    records, bad = [], []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(check(_parse(line), n))
        except BadRecord as exc:
            bad.append(f"line {n}: {exc}")
    if bad:
        raise InputError(f"{path}: {len(bad)} record{'s' * (len(bad) > 1)} that edgejudge did not write:\n    "
                         + "\n    ".join(bad[:SHOWN])
                         + (f"\n    ... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""),
                         code="bad_verdicts",
                         hint="give the output of `edgejudge score` on the gold items (or fix those lines); "
                              "nothing was computed or stored")
    return records


def _parse(line: bytes) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"not valid JSON, {json_errors.describe(exc, line.decode('utf-8', 'replace'))}") from None


def check(record: object, n: int | None = None) -> dict:
    """``record`` itself when every field eval and calibrate read is valid, else :class:`BadRecord`."""
    if not isinstance(record, dict):
        raise BadRecord(f"not a JSON object but {_type(record)}")
    ident = record.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        raise BadRecord("no id (a string or an integer)" if ident is None else f"id is {_type(ident)}, "
                        "not a string or an integer")
    status = record.get("status", "ok")
    if not isinstance(status, str) or status not in STATUSES:
        raise BadRecord(f"status {_shown(status)} is not one of {', '.join(STATUSES)}")
    task = record.get("task")
    if task is not None and (not isinstance(task, str) or task not in items.TASKS):
        raise BadRecord(f"task {_shown(task)} is not one of {', '.join(items.TASKS)}")
    for name in ("verdict", "stage"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRecord(f"{name} is {_type(value)}, not a string or null")
    swap = record.get("swap")
    if swap is not None:
        if not isinstance(swap, dict):
            raise BadRecord(f"swap is {_type(swap)}, not an object or null")
        if swap.get("agree") is not None and not isinstance(swap["agree"], bool):
            raise BadRecord(f"swap.agree is {_type(swap['agree'])}, not true, false or null")
    for name in ("probabilities", "raw_probabilities"):
        _check_probabilities(name, record.get(name))
    if status == "ok" and isinstance(record.get("verdict"), str) and not record.get("probabilities"):
        raise BadRecord("a verdict without probabilities (every verdict edgejudge reads from labels has them)")
    for name, keys in (("model", ("sha256", "id", "quant")), ("provenance", ("template_sha256",))):
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise BadRecord(f"{name} is {_type(value)}, not an object or null")
        for key in keys:
            if value.get(key) is not None and not isinstance(value[key], str):
                raise BadRecord(f"{name}.{key} is {_type(value[key])}, not a string")
    return record


def _check_probabilities(name: str, value: object) -> None:
    if value is None or value == {}:
        return
    if not isinstance(value, dict):
        raise BadRecord(f"{name} is {_type(value)}, not an object of label -> probability")
    total = 0.0
    for label, p in value.items():
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise BadRecord(f"{name}[{_shown(label)}] is {_type(p)}, not a number")
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise BadRecord(f"{name}[{_shown(label)}] = {p!r} is not a probability (from 0 to 1)")
        total += p
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise BadRecord(f"{name} sum to {total:.6g}, not 1 (within {SUM_TOLERANCE:g})")


def _type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
