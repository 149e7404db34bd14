"""Plain words for JSON syntax errors.

orjson's messages are written for parser authors ("invalid literal, expected 'true'"); a person
who typed ``{'a': True}`` needs to hear where the problem is and what JSON wants instead.
"""

from __future__ import annotations

import json

_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}


def describe(exc: json.JSONDecodeError, text: str) -> str:
    """``column N: what is wrong`` for a JSON error in one line of ``text`` (orjson's errors are
    :class:`json.JSONDecodeError` too)."""
    pos = exc.pos
    column = exc.colno
    message = exc.msg.lower()
    if not text.strip():
        return "the text is empty"
    if "end of data" in message or pos >= len(text):
        return f"column {column}: the text ends before the JSON is complete (a missing quote, ']' or '}}'?)"
    if "trailing comma" in message:
        return f"column {column}: a comma before a closing bracket or brace (JSON allows none there)"
    if "after document" in message or "extra data" in message:
        return f"column {column}: more text after the end of the JSON value (one JSON object per line)"
    char = text[pos]
    for word, fix in _PYTHON_WORDS.items():
        if text.startswith(word, pos):
            return f"column {column}: {word} is Python; JSON writes {fix}"
    if "invalid literal" in message:
        word = text[pos:].split(None, 1)[0].rstrip(",]}")[:20]
        return f"column {column}: {word!r} is not a JSON value (JSON's words are true, false and null)"
    if char == "'":
        return f"column {column}: a single quote; JSON strings and keys need double quotes"
    if "string key" in message or "property name" in message:
        wanted = "a key in double quotes"
    elif "json value" in message or "expecting value" in message:
        wanted = "a value (a string in double quotes, a number, true, false, null, [ or {)"
    elif "expected ','" in message or "delimiter" in message:
        wanted = "a ',' or the closing bracket"
    elif "':'" in message or "colon" in message:
        wanted = "a ':' after the key"
    else:
        wanted = "valid JSON"
    return f"column {column}: unexpected {_shown(char)} where {wanted} should be"


def _shown(char: str) -> str:
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    return f"character U+{ord(char):04X}"
