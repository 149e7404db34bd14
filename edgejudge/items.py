"""Items: one validated thing to judge, built from CLI flags, a JSONL record or an API call.

Validation happens here, before anything reaches llama.cpp, and every problem is an
:class:`InputError` with a code (``missing_field``, ``bad_type``, ``unknown_task``, ``bad_scale``,
``bad_value``) that batch mode reports per line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edgejudge.errors import InputError

PAIR = ("prompt", "response_a", "response_b")
CONVERSATIONS = ("conversation_a", "conversation_b")

# task → (alternative sets of required fields, optional fields). "prompt" is the user's request.
TASKS: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "pairwise": ((PAIR, CONVERSATIONS), ("rubric", "variant", "rubric_variant")),
    "pointwise": ((("prompt", "response"),), ("rubric", "scale")),
    "arena": ((PAIR, CONVERSATIONS), ("rubric", "variant", "rubric_variant")),
    "strength": ((PAIR, ("conversation", "response_a", "response_b")), ("rubric", "rubric_variant")),
    "binary": ((("prompt", "response"),), ("rubric", "variant", "rubric_variant")),
    "safety": ((("prompt",), ("conversation",)), ("response", "rubric", "variant", "rubric_variant", "conversation")),
    "mcq": ((("prompt", "choices"),), ("rubric_variant",)),
    "rubric": ((("prompt",),), ()),
    "refine": ((("prompt", "response"),), ("sources",)),
}
TWO_RESPONSES = ("pairwise", "arena", "strength")
TEXT_FIELDS = ("prompt", "response", "response_a", "response_b", "rubric", "sources")
# Friendlier names for the variant of a task: the mR3 subset, the binary domain, the safety target.
VARIANT_ALIASES = {"pairwise": "subset", "arena": "subset", "binary": "domain", "safety": "target"}
DEFAULT_SCALE = (1, 5)
# "options" is a line's run options (an object) everywhere; an mcq's answers are "choices".
MCQ_OPTIONS_LIST = "\"options\" is a list, but it is the line's run options (an object such as {\"swap\": true})"
MCQ_OPTIONS_HINT = ('an mcq item\'s answer options go in "choices": {"task": "mcq", "prompt": ..., '
                    '"choices": ["first", "second"], "options": {"seed": 1}}')
MAX_SCALE_LABELS = 21
ROLES = ("user", "assistant", "system")


@dataclass(frozen=True)
class Item:
    """One validated judging request."""

    task: str
    prompt: str = ""
    response: str | None = None
    response_a: str | None = None
    response_b: str | None = None
    rubric: str | None = None
    scale: tuple[int, int] | None = None
    variant: str | None = None
    # Which of the authors' rubric variants to render (mR3; see formats/rubrics.py); None = 0.
    rubric_variant: int | None = None
    choices: tuple[str, ...] = ()  # an mcq item's answer choices ("options" is a line's run options)
    conversation: tuple[dict, ...] = ()
    conversation_a: tuple[dict, ...] = ()
    conversation_b: tuple[dict, ...] = ()
    sources: str | None = None
    id: str | int | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def swapped(self) -> Item:
        """The same two-response item with A and B exchanged."""
        return replace(self, response_a=self.response_b, response_b=self.response_a,
                       conversation_a=self.conversation_b, conversation_b=self.conversation_a)


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


def _messages(name: str, value: object) -> tuple[dict, ...]:
    if not isinstance(value, list) or not value:
        raise InputError(f"field {name!r} must be a non-empty list of messages", code="bad_type",
                         hint='e.g. [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]')
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise InputError(f"{name}[{i}] must be an object with a role ({', '.join(ROLES)}) and a string content",
                             code="bad_type")
        messages.append({"role": message["role"], "content": _text(f"{name}[{i}].content", message["content"])})
    return tuple(messages)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InputError(f"field {name!r} must be a string, got {type(value).__name__}", code="bad_type")
    if "\x00" in value:
        raise InputError(f"field {name!r} contains a NUL character", code="bad_value")
    return value


def make_item(record: Mapping[str, object], *, default_task: str | None = None) -> Item:
    """Validate a record (a JSONL object, or CLI flags gathered in a dict) into an :class:`Item`."""
    if not isinstance(record, Mapping):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", code="bad_type",
                         hint='each line must be an object such as {"prompt": ..., "response_a": ..., "response_b": ...}')
    if isinstance(record.get("options"), list):
        raise InputError(MCQ_OPTIONS_LIST, code="bad_options", hint=MCQ_OPTIONS_HINT)
    task = record.get("task")
    if task is None:
        task = default_task or _infer_task(record)
    if task is None:
        raise InputError("no task given, and none can be inferred (no response fields)", code="missing_field",
                         hint=f"give \"task\" (one of: {', '.join(TASKS)}) and its fields")
    if not isinstance(task, str) or task not in TASKS:
        raise InputError(f"unknown task {task!r}", code="unknown_task", hint=f"use one of: {', '.join(TASKS)}")
    alternatives, optional = TASKS[task]
    present = {k for k, v in record.items() if v is not None}
    required = next((alt for alt in alternatives if set(alt) <= present), None)
    if required is None:
        wanted = " or ".join("(" + ", ".join(alt) + ")" for alt in alternatives)
        missing = sorted(set(alternatives[0]) - present)
        raise InputError(f"task {task!r} needs the field {missing[0]!r}" if missing else f"task {task!r} needs {wanted}",
                         code="missing_field", hint=f"a {task} item needs {wanted}")
    # Heterogeneous field values, each checked by its branch below before it reaches Item.
    values: dict[str, Any] = {"task": task}
    for name in set(required) | set(optional) | ({"prompt"} & present):
        value = record.get(name)
        if name == "variant":
            value = record.get("variant", record.get(VARIANT_ALIASES.get(task, ""), None))
        if value is None:
            continue
        if name in TEXT_FIELDS or name == "variant":
            values[name] = _text(name, value)
        elif name == "scale":
            values[name] = parse_scale(value)
        elif name == "choices":
            if not isinstance(value, list) or not 2 <= len(value) <= 4:
                raise InputError("field 'choices' must be a list of 2 to 4 answer choices", code="bad_type",
                                 hint='e.g. "choices": ["Mars", "Jupiter", "Venus"]')
            values[name] = tuple(_text(f"choices[{i}]", v) for i, v in enumerate(value))
        elif name in ("conversation", *CONVERSATIONS):
            values[name] = _messages(name, value)
        elif name == "rubric_variant":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"rubric_variant must be a whole number >= 0, got {value!r}", code="bad_value",
                                 hint="0 is the authors' first rubric text with its keys in file order")
            values[name] = value
    prompt = values.get("prompt")
    if prompt is not None and not str(prompt).strip():
        raise InputError("the prompt is empty", code="bad_value", hint="give the user's request in 'prompt'")
    if task == "strength" and "prompt" not in values:
        values["prompt"] = next((m["content"] for m in reversed(values["conversation"]) if m["role"] == "user"), "")
    if task == "safety" and "conversation" in values:
        if "prompt" in values:
            raise InputError("give a safety item either as 'prompt' (and 'response') or as a 'conversation', not both",
                             code="bad_value", hint="the conversation's last message is the one moderated")
        values["prompt"] = next((m["content"] for m in reversed(values["conversation"]) if m["role"] == "user"), "")
    if task == "pointwise" and "scale" not in values:
        values["scale"] = DEFAULT_SCALE
    ident = record.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int))):
        raise InputError(f"id must be a string or an integer, got {type(ident).__name__}", code="bad_type")
    return Item(id=ident, **values)


def _infer_task(record: Mapping[str, object]) -> str | None:
    if any(k in record for k in ("response_a", "response_b", *CONVERSATIONS)):
        return "pairwise"
    if "response" in record:
        return "pointwise"
    return None
