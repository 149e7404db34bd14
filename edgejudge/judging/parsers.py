"""Verdicts from free-running judge outputs (text generated without edgejudge's constraints).

One parser per family, finding the verdict where the family's authors do (the rules, with their
sources, are in the family tables, ``formats/<family>.toml``, and in docs/formats.md):

- The reasoning ends at the FIRST ``</think>`` (mR3's parser splits there); the answer is what
  follows, so a stray ``</think>`` after the answer does not hide it. A label is never taken from
  inside the reasoning, and an output whose reasoning never ends holds no answer.
- Two answers after the reasoning: the family table's ``answers`` rule says which counts (mR3: the
  first; RubricRM: the last ``Winner:`` line) or that it is an error (RM-R1: both ``[[A]]`` and
  ``[[B]]``).
- Labels are compared case-insensitively where the authors' evaluation does (the task's
  ``case_insensitive``: mR3's arena, strength, binary, safety and MCQ).

A failure is a :class:`ParseError`, never a score.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from edgejudge.errors import ParseError
from edgejudge.formats import spec


@dataclass(frozen=True)
class Parsed:
    verdict: str
    native: str
    answer: str


def _task(family: str, task: str) -> spec.TaskFormat:
    table = spec.load(family).tasks.get(task)
    if table is None:
        raise ParseError(f"the {family} format has no task {task!r}")
    return table


def _labels(family: str, task: str) -> dict[str, str]:
    table = _task(family, task)
    if table.scale:
        return {str(n): str(n) for n in range(0, 101)}
    return dict(table.labels)


def _after_reasoning(text: str, *, opens_in_prompt: bool) -> str:
    """The text after the reasoning block, which ends at the first ``</think>``. ``opens_in_prompt``:
    the prompt opened the block, so the output starts inside it and must close it."""
    end = text.find("</think>")
    if end >= 0:
        return text[end + len("</think>"):]
    if opens_in_prompt or "<think>" in text:
        raise ParseError("the reasoning never ended (no </think>), so there is no answer to read",
                         hint="generate with a larger budget, or judge with edgejudge (which closes the block)")
    return text


def _normalise_number(value: str) -> str:
    value = value.strip()
    if re.fullmatch(r"\d{1,30}(\.0+)?", value):  # bounded: int(float("9" * 400)) is an OverflowError
        return str(int(value.split(".")[0]))
    return value


def _json_object(answer: str) -> dict | None:
    body = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", answer.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(body[start:end + 1])
    except (json.JSONDecodeError, RecursionError):  # a deeply nested object is no verdict either
        return None
    return value if isinstance(value, dict) else None


def parse_json_verdict(family: str, task: str, text: str, key: str, *, opens_in_prompt: bool) -> Parsed:
    labels = _labels(family, task)
    folded = _task(family, task).case_insensitive
    lookup = {native.lower(): native for native in labels} if folded else {native: native for native in labels}
    answer = _after_reasoning(text, opens_in_prompt=opens_in_prompt)
    obj = _json_object(answer)
    candidates = []
    if obj is not None and key in obj:
        candidates.append(str(obj[key]))
    else:
        # Not one JSON object (fences, single quotes, truncation, two answers): the first "key": value.
        found = re.findall(rf"""['"]?{key}['"]?\s*:\s*(?:"([^"]*)"|'([^']*)'|([^,}}\s]+))""", answer)
        rule = spec.load(family).family.answers
        chosen = found[-1:] if rule == "last" else found[:1]
        candidates.extend(next(g for g in groups if g) for groups in chosen)
    for candidate in candidates:
        for value in (candidate, _normalise_number(candidate)):
            value = value.lower() if folded else value
            if value in lookup:
                native = lookup[value]
                return Parsed(labels[native], native, answer.strip())
    shown = candidates[0] if candidates else "nothing"
    how = " (compared case-insensitively)" if folded else " (compared exactly, as the authors do for this task)"
    raise ParseError(f"no valid {key!r} in the answer (found {shown!r}; allowed: {', '.join(labels)}){how}")


def parse_rmr1(text: str) -> Parsed:
    answer = _after_reasoning(text, opens_in_prompt=True)
    found = [label for label in ("A", "B") if f"[[{label}]]" in answer]
    if len(found) == 2:
        raise ParseError("the answer after the reasoning holds both [[A]] and [[B]]; RM-R1's evaluation counts "
                         "such an output as an error", hint="the output must give one verdict, "
                         "<answer>[[A]]</answer> or <answer>[[B]]</answer>")
    if not found:
        raise ParseError("no [[A]] or [[B]] (as in <answer>[[A]]</answer>) after the reasoning")
    return Parsed(found[0], found[0], answer.strip())


WINNER_LINE = re.compile(r"^\s*\**\s*Winner\s*\**\s*:", re.I)
WINNER = re.compile(r"^\s*\**\s*Winner\s*\**\s*:\s*\**\s*(?:Response\s*)?([AB])\b", re.I)


def parse_rubricrm(text: str) -> Parsed:
    # Thinking is off for RubricRM, but a <think>...</think> block, if any, is reasoning: skip it.
    answer = _after_reasoning(text, opens_in_prompt=False) if "</think>" in text or "<think>" in text else text
    lines = [line for line in answer.splitlines() if WINNER_LINE.match(line)]
    if not lines:
        raise ParseError("no 'Winner:' line in the output (outside the reasoning)")
    line = lines[-1] if spec.load("rubricrm").family.answers == "last" else lines[0]
    match = WINNER.match(line)
    if not match:
        raise ParseError(f"the Winner line does not name Response A or B: {line.strip()!r}")
    label = match.group(1).upper()
    return Parsed(label, f" {label}", line.strip())


GUARD_SAFETY = re.compile(r"Safety: (Safe|Unsafe|Controversial)")


def parse_guard(text: str, policy: str) -> Parsed:
    """Qwen3Guard's answer: the first ``Safety: ...`` (the authors' regular expression, as
    ``re.search`` finds it), as the safety verdict under ``policy``."""
    answer = _after_reasoning(text, opens_in_prompt=False) if "</think>" in text or "<think>" in text else text
    match = GUARD_SAFETY.search(answer)
    if match is None:
        raise ParseError("no 'Safety: Safe', 'Safety: Unsafe' or 'Safety: Controversial' in the output")
    level = match.group(1)
    harmful = level == "Unsafe" or (level == "Controversial" and policy == "strict")
    return Parsed("true" if harmful else "false", level, answer.strip())


def parse(family: str, task: str, text: str, *, policy: str = "strict") -> Parsed:
    """The verdict in ``text``, a free-running output of a ``family`` judge on ``task`` (``policy``:
    Qwen3Guard's reading of "controversial")."""
    if family == "guard":
        if task != "safety":
            raise ParseError(f"Qwen3Guard answers the safety task only, not {task!r}")
        return parse_guard(text, policy)
    if family == "mr3":
        return parse_json_verdict("mr3", task, text, "score", opens_in_prompt=True)
    if family == "rmr1":
        if task != "pairwise":
            raise ParseError(f"RM-R1 judges pairwise only, not {task!r}")
        return parse_rmr1(text)
    if family == "rubricrm":
        if task != "pairwise":
            raise ParseError(f"a RubricRM output holds a verdict for pairwise only, not {task!r}")
        return parse_rubricrm(text)
    if family == "generic":
        key = "verdict" if task == "pairwise" else "score"
        return parse_json_verdict("generic", task, text, key, opens_in_prompt=False)
    raise ParseError(f"the {family} family writes no verdict to parse")
