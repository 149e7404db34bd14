"""Items: one validated thing to judge, built from CLI flags, a JSONL record or an API call.

Validation happens here, before anything reaches llama.cpp, and every problem is an
:class:`InputError` with a code (``missing_field``, ``bad_type``, ``unknown_task``, ``bad_scale``,
``bad_value``) that batch mode reports per line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from edgejudge.errors import InputError

# task → (required fields, optional fields); "prompt" is the user's request in every task.
TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pairwise": (("prompt", "response_a", "response_b"), ("rubric",)),
    "pointwise": (("prompt", "response"), ("rubric", "scale")),
}
TEXT_FIELDS = ("prompt", "response", "response_a", "response_b", "rubric")
DEFAULT_SCALE = (1, 5)
MAX_SCALE_LABELS = 21


@dataclass(frozen=True)
class Item:
    """One validated judging request."""

    task: str
    prompt: str
    response: str | None = None
    response_a: str | None = None
    response_b: str | None = None
    rubric: str | None = None
    scale: tuple[int, int] | None = None
    id: str | int | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def swapped(self) -> Item:
        """The same pairwise item with A and B exchanged."""
        return Item(**{**self.__dict__, "response_a": self.response_b, "response_b": self.response_a})


def parse_scale(value: object) -> tuple[int, int]:
    """A scale from ``"1-5"``, ``[1, 5]`` or ``(1, 5)``."""
    lo = hi = None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[-:,]\s*(\d+)\s*", value)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2))
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        lo, hi = value
    if lo is None or hi is None:
        raise InputError(f"scale {value!r} is not of the form LO-HI", code="bad_scale",
                         hint='write the scale as "1-5" (or [1, 5] in JSON)')
    if not 0 <= lo < hi or hi - lo + 1 > MAX_SCALE_LABELS:
        raise InputError(f"scale {lo}-{hi} must have 0 <= LO < HI and at most {MAX_SCALE_LABELS} points",
                         code="bad_scale", hint="use a scale such as 1-5 or 1-10")
    return lo, hi


def make_item(record: Mapping[str, object], *, default_task: str | None = None) -> Item:
    """Validate a record (a JSONL object, or CLI flags gathered in a dict) into an :class:`Item`."""
    if not isinstance(record, Mapping):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", code="bad_type",
                         hint='each line must be an object such as {"prompt": ..., "response_a": ..., "response_b": ...}')
    task = record.get("task")
    if task is None:
        task = default_task or _infer_task(record)
    if not isinstance(task, str) or task not in TASKS:
        known = ", ".join(TASKS)
        raise InputError(f"unknown task {task!r}", code="unknown_task", hint=f"use one of: {known}")
    required, optional = TASKS[task]
    values: dict[str, object] = {"task": task}
    for name in required + optional:
        value = record.get(name)
        if value is None:
            if name in required:
                raise InputError(f"task {task!r} needs the field {name!r}", code="missing_field",
                                 hint=f"a {task} item needs: {', '.join(required)}")
            continue
        if name in TEXT_FIELDS:
            if not isinstance(value, str):
                raise InputError(f"field {name!r} must be a string, got {type(value).__name__}", code="bad_type")
            if "\x00" in value:
                raise InputError(f"field {name!r} contains a NUL character", code="bad_value")
            values[name] = value
        elif name == "scale":
            values[name] = parse_scale(value)
    if not str(values["prompt"]).strip():
        raise InputError("the prompt is empty", code="bad_value", hint="give the user's request in 'prompt'")
    if task == "pointwise" and "scale" not in values:
        values["scale"] = DEFAULT_SCALE
    ident = record.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int))):
        raise InputError(f"id must be a string or an integer, got {type(ident).__name__}", code="bad_type")
    return Item(id=ident, **values)


def _infer_task(record: Mapping[str, object]) -> str | None:
    if "response_a" in record or "response_b" in record:
        return "pairwise"
    if "response" in record:
        return "pointwise"
    return None
