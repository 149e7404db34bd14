"""Gold files for ``eval`` and ``calibrate``: each line an item with its right answer, checked
line by line before any model work.

A line is refused, with its number, when it is not a JSON object, is not a valid item (the same
rules as a line of ``score``), has no ``label``, or has a label that is not a verdict label of its
task: ``A``/``B`` (and ``tie``, which ``--swap --tie-on-disagreement`` can give) for pairwise,
``A``/``B``/``tie``/``both_bad`` for arena, ``true``/``false`` for binary and safety, one
letter per answer choice for mcq, a whole number within the item's scale for pointwise (1-5 by
default) and from 1 to 7 for strength. Numbers may be given as JSON numbers (``4``, ``4.0``) or as
ASCII digits (``"4"``); ``"²"``, ``"٤"`` or ``4.5`` are refused. Every bad line is reported (the
first :data:`SHOWN` of them in full), and the command stops with exit 5: a figure computed on
part of a file would not be the figure the user asked for.
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

from edgejudge import items, json_errors
from edgejudge.errors import InputError, UsageError

SHOWN = 20  # bad lines named in full in the error; the rest are counted
# Verdicts that a flag adds to a task's own labels (--swap --tie-on-disagreement on A/B tasks).
EXTRA_LABELS = {"pairwise": ("tie",)}


@functools.cache
def _table_labels(task: str) -> tuple[tuple[str, ...], bool]:
    """The verdict labels of ``task`` in every family's table, and whether its labels are a scale."""
    from edgejudge.formats import spec

    labels: list[str] = []
    scale = False
    for family in spec.FAMILY_FILES:
        fmt = spec.load(family).tasks.get(task)
        if fmt is None:
            continue
        scale = scale or fmt.scale
        labels += [label for _, label in fmt.labels if label not in labels]
    return tuple(labels), scale


def valid_labels(item: items.Item) -> tuple[str, ...]:
    """The verdict labels a gold label of ``item`` may be (empty: the task has no verdict label)."""
    labels, scale = _table_labels(item.task)
    if scale and item.scale is not None:
        lo, hi = item.scale
        return tuple(str(n) for n in range(lo, hi + 1))
    if item.task == "mcq":
        labels = labels[: len(item.choices)]
    return labels + EXTRA_LABELS.get(item.task, ())


def label_text(value: object) -> str:
    """A gold label as verdicts write labels: text, ``true``/``false``, a whole number as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int)):
        return str(value)
    raise InputError(f"a gold label must be a string, a number or a boolean, not {type(value).__name__}",
                     code="bad_type")


def check_label(value: object, item: items.Item) -> str:
    """The label text of ``value`` for ``item``, or an InputError saying what the task takes."""
    if value is None:
        raise InputError("no gold 'label'", code="missing_field",
                         hint='each item needs the right answer, e.g. "label": "A" (or a score)')
    valid = valid_labels(item)
    if not valid:
        raise InputError(f"the task {item.task!r} gives no verdict label to compare a gold label with",
                         code="bad_value", hint="evaluate tasks with a verdict: pairwise, pointwise, arena, ...")
    text = None if isinstance(value, float) and not value.is_integer() else label_text(value)
    if text not in valid:
        shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40]) + "..."
        scale = f" (its scale is {item.scale[0]}-{item.scale[1]})" if item.scale and valid[0].isdigit() else ""
        raise InputError(f"gold label {shown} is not a verdict label of the task {item.task!r}{scale}",
                         code="bad_label", hint=f"use one of: {', '.join(valid)}")
    return text


def read(path: Path) -> list[dict]:
    """The items of a gold file, each with its ``id`` (the line number when absent) and ``label``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the gold file {path}: {exc.strerror}") from None
    golds, bad = [], []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            golds.append(_gold(line, n))
        except InputError as exc:
            bad.append(f"line {n}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
    if bad:
        raise InputError(f"{path}: {len(bad)} bad gold line{'s' * (len(bad) > 1)}:\n    " + "\n    ".join(bad[:SHOWN])
                         + (f"\n    ... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""),
                         code="bad_gold", hint="fix those lines; nothing was judged")
    if not golds:
        raise UsageError(f"{path} holds no items")
    return golds


def _gold(line: bytes, n: int) -> dict:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON, {json_errors.describe(exc, line.decode('utf-8', 'replace'))}",
                         code="bad_json") from None
    if not isinstance(value, dict):
        raise InputError(f"not a JSON object but {type(value).__name__}", code="bad_type")
    if value.get("label") is None:
        raise InputError("no gold 'label'", code="missing_field",
                         hint='each item needs the right answer, e.g. "label": "A" (or a score)')
    item = items.make_item({k: v for k, v in value.items() if k != "label"})
    return {**value, "id": value.get("id", n), "label": check_label(value["label"], item)}
