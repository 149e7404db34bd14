"""Numbers and paths from ``EDGEJUDGE_*`` variables (and flags given as text), checked whole.

Every variable edgejudge reads is documented in docs/runtime.md and checked here or next to its
use: a bad value is a :class:`UsageError` (exit 2) that names the variable, never an exception
from ``int()``/``float()`` deep in a run. Numbers are plain ASCII decimals: ``int()`` takes "٣"
(an Arabic-Indic three) and ``float()`` takes "1e400" (infinity) and "nan", none of which anyone
means as a thread count or a cache size.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from edgejudge.errors import UsageError

_INT = re.compile(r"[+-]?[0-9]{1,30}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?")


def _text(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def parse_int(text: str, what: str, lo: int, hi: int, *, hint: str | None = None) -> int:
    """``text`` as an integer from ``lo`` to ``hi`` (ASCII digits only), else a UsageError naming ``what``."""
    if not _INT.fullmatch(text.strip()) or not lo <= int(text.strip()) <= hi:
        raise UsageError(f"{what} must be an integer from {lo} to {hi:,}, got {_shown(text)}", hint=hint)
    return int(text.strip())


def parse_number(text: str, what: str, lo: float, hi: float, *, hint: str | None = None) -> float:
    """``text`` as a finite number from ``lo`` to ``hi`` (ASCII decimal, an exponent allowed)."""
    value = float(text.strip()) if _NUMBER.fullmatch(text.strip()) else math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise UsageError(f"{what} must be a number from {lo:g} to {hi:g}, got {_shown(text)}", hint=hint)
    return value + 0.0  # "-0" is 0


def env_int(name: str, lo: int, hi: int) -> int | None:
    """The integer in variable ``name`` (None when unset or empty), from ``lo`` to ``hi``."""
    text = _text(name)
    return None if text is None else parse_int(text, name, lo, hi, hint=f"set {name} to a whole number, or unset it")


def env_number(name: str, lo: float, hi: float) -> float | None:
    """The finite number in variable ``name`` (None when unset or empty), from ``lo`` to ``hi``."""
    text = _text(name)
    return None if text is None else parse_number(text, name, lo, hi, hint=f"set {name} to a number, or unset it")


def env_choice(name: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` from variable ``name`` (None when unset or empty)."""
    text = _text(name)
    if text is not None and text not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, got {_shown(text)}",
                         hint=f"set {name}={choices[0]}, or unset it")
    return text


def expand_user(text: str, what: str) -> Path:
    """``text`` as a path with a leading ``~`` or ``~user`` expanded; a UsageError naming ``what``
    when it names no home (``~0``, ``~nosuchuser``, or ``~`` with neither $HOME nor a user entry)."""
    path = Path(text)
    if not text.startswith("~"):
        return path
    try:
        expanded = path.expanduser()
    except (RuntimeError, KeyError, OSError, ValueError):
        expanded = path
    if str(expanded).startswith("~"):
        user = text[1:].split("/", 1)[0].split(os.sep, 1)[0]
        who = f"no user named {_shown(user)}" if user else "no home directory ($HOME is unset)"
        raise UsageError(f"{what} {_shown(text)}: there is {who}, so '~{user}' cannot be expanded",
                         hint="give the path in full (or ./~name for a folder named like that)")
    return expanded


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:50] + f"…' ({len(text):,} characters)"
