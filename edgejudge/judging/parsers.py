"""Verdicts from free-running judge outputs (text generated without edgejudge's constraints).

One parser per family, finding the verdict where the family's authors do, with two rules of our
own: a label is never taken from inside the reasoning (only after the last ``</think>``, or from
the final ``Winner:`` line), and a failure is a :class:`ParseError`, never a score.
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


def _labels(family: str, task: str) -> dict[str, str]:
    table = spec.load(family).tasks.get(task)
    if table is None:
        raise ParseError(f"the {family} format has no task {task!r}")
    if table.scale:
        return {str(n): str(n) for n in range(0, 101)}
    return dict(table.labels)


def _after_reasoning(text: str, *, opens_in_prompt: bool) -> str:
    """The text after the reasoning block. ``opens_in_prompt``: the prompt opened the block, so
    the output starts inside it and must close it."""
    end = text.rfind("</think>")
    if end >= 0:
        return text[end + len("</think>"):]
    if opens_in_prompt or "<think>" in text:
        raise ParseError("the reasoning never ended (no </think>), so there is no answer to read",
                         hint="generate with a larger budget, or judge with edgejudge (which closes the block)")
    return text


def _normalise_number(value: str) -> str:
    value = value.strip()
    if re.fullmatch(r"\d+(\.0+)?", value):
        return str(int(float(value)))
    return value


def _json_object(answer: str) -> dict | None:
    body = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", answer.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(body[start:end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def parse_json_verdict(family: str, task: str, text: str, key: str, *, opens_in_prompt: bool) -> Parsed:
    labels = _labels(family, task)
    answer = _after_reasoning(text, opens_in_prompt=opens_in_prompt)
    obj = _json_object(answer)
    candidates = []
    if obj is not None and key in obj:
        candidates.append(str(obj[key]))
    else:
        # Not JSON (fences, single quotes, truncation): the last "key": value in the answer.
        found = re.findall(rf"""['"]?{key}['"]?\s*:\s*(?:"([^"]*)"|'([^']*)'|([^,}}\s]+))""", answer)
        candidates.extend(next(g for g in groups if g) for groups in found[-1:])
    for candidate in candidates:
        for value in (candidate, _normalise_number(candidate)):
            if value in labels:
                return Parsed(labels[value], value, answer.strip())
    shown = candidates[0] if candidates else "nothing"
    raise ParseError(f"no valid {key!r} in the answer (found {shown!r}; allowed: {', '.join(labels)})")


def parse_rmr1(text: str) -> Parsed:
    answer = _after_reasoning(text, opens_in_prompt=True)
    found = re.findall(r"<answer>\s*\[\[([AB])\]\]\s*</answer>", answer)
    if not found:
        raise ParseError("no <answer>[[A]]</answer> or <answer>[[B]]</answer> after the reasoning")
    return Parsed(found[-1], found[-1], answer.strip())


def parse_rubricrm(text: str) -> Parsed:
    lines = [line for line in text.splitlines() if re.match(r"^\s*\**\s*Winner\s*\**\s*:", line, re.I)]
    if not lines:
        raise ParseError("no 'Winner:' line in the output")
    match = re.match(r"^\s*\**\s*Winner\s*\**\s*:\s*\**\s*(?:Response\s*)?([AB])\s*\**\s*\.?\s*$", lines[-1], re.I)
    if not match:
        raise ParseError(f"the last Winner line is not 'Winner: Response A' or 'B': {lines[-1].strip()!r}")
    label = match.group(1).upper()
    return Parsed(label, f" {label}", lines[-1].strip())


def parse(family: str, task: str, text: str) -> Parsed:
    """The verdict in ``text``, a free-running output of a ``family`` judge on ``task``."""
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
