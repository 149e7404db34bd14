"""Reading the texts judges write: a generated rubric's items, an answer cut by its budget, the
final justification of a RubricRM analysis."""

from __future__ import annotations

import re

RUBRIC_ITEM = re.compile(r"^\s*\d+\.\s+(The response .*\[(?:Hard Rule|Principle)\])\s*$")


def rubric_items(text: str) -> list[str]:
    """The complete items of a generated rubric, renumbered (an item cut by the budget is dropped)."""
    found = [m.group(1) for m in map(RUBRIC_ITEM.match, text.splitlines()) if m]
    return [f"{i}. {body}" for i, body in enumerate(found, 1)]


def well_formed(answer: str) -> str:
    """An answer cut by its budget, without the snippet tag it left open."""
    last_open, last_close = answer.rfind("<"), answer.rfind("</snippet>")
    if last_open > last_close:
        head = answer[:last_open]
        tail = answer[last_open:]
        claim = tail.split(">", 1)[1] if ">" in tail and tail.startswith("<snippet") else ""
        return head + claim
    return answer


def justification(analysis: str) -> str:
    """The last ``Justification:`` line of a RubricRM judge's analysis (its final judgment)."""
    tail = analysis.rsplit("--- Final Judgment ---", 1)[-1]
    found = re.findall(r"^\s*Justification:\s*(.+?)\s*$", tail, re.M)
    return found[-1] if found else ""
