"""What a stored calibration must be before any of it is used: it is read back from disk, where
anything (an old version, a hand edit, a damaged or hostile file) may sit.

:func:`problem` returns the first thing wrong with a parsed record, in words, or None: the types,
the ranges (a temperature positive, finite and within the fit's bounds; biases finite; confidences
in [0, 1]), the required keys and no others. A record with a problem is never applied.
"""

from __future__ import annotations

import math
import re

from edgejudge.trust import calibration

VERSION = 2
MAX_BYTES = 16 << 20  # ~200,000 calibration items; a larger file is not one edgejudge wrote
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MAX_TEXT = 4096
MAX_LABELS = 1024
T_RANGE = (1 / calibration.INVERSE_T[1], 1 / calibration.INVERSE_T[0])

FIELDS = ("id", "version", "model", "task", "variant", "think", "swap", "numerics", "template_sha256", "settings",
          "method", "temperature", "biases", "n", "labels", "held_out", "calibration_set")
OPTIONAL_FIELDS = ("fitted_at",)  # when the fit was made (UTC, ISO 8601); shown in records and listings
MODEL_FIELDS = ("id", "quant", "sha256", "family")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: object, *, empty: bool = True) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT and (empty or bool(value))


def problem(data: object) -> str | None:
    """The first problem of a stored calibration record, or None when it may be applied."""
    if not isinstance(data, dict):
        return f"it is a JSON {type(data).__name__}, not an object"
    if data.get("version") != VERSION:
        return f"it is version {data.get('version')!r}, not {VERSION} (refit it with edgejudge calibrate)"
    missing = [k for k in FIELDS if k not in data]
    if missing:
        return f"it lacks {', '.join(missing)}"
    extra = sorted(str(k) for k in data if k not in FIELDS and k not in OPTIONAL_FIELDS)
    if extra:
        return f"it has fields edgejudge does not write: {', '.join(extra[:5])}"
    if not _text(data["id"], empty=False):
        return "its id is not a non-empty string"
    model = data["model"]
    if not isinstance(model, dict) or sorted(model) != sorted(MODEL_FIELDS) or not all(
            _text(model[k]) for k in MODEL_FIELDS):
        return "its model is not an object of id, quant, sha256 and family strings"
    if not SHA256_RE.fullmatch(model["sha256"]):
        return "its model sha256 is not 64 hexadecimal digits"
    for name in ("task", "variant", "numerics", "template_sha256", "method"):
        if not _text(data[name]):
            return f"its {name} is not a string"
    if data["method"] != "temperature+bias":
        return f"its method {data['method']!r} is not one this edgejudge applies"
    if "fitted_at" in data and not _text(data["fitted_at"]):
        return "its fitted_at is not a string"
    for name in ("think", "swap"):
        if not isinstance(data[name], bool):
            return f"its {name} is not true or false"
    if not isinstance(data["settings"], dict) or not isinstance(data["held_out"], dict):
        return "its settings or held_out is not an object"
    t = data["temperature"]
    if not _number(t) or not T_RANGE[0] * (1 - 1e-9) <= t <= T_RANGE[1] * (1 + 1e-9):
        return f"its temperature {t!r} is not a finite number in [{T_RANGE[0]:g}, {T_RANGE[1]:g}]"
    biases = data["biases"]
    if not isinstance(biases, dict) or len(biases) > MAX_LABELS or not all(
            _text(k) and _number(v) and abs(v) <= 1e6 for k, v in biases.items()):
        return "its biases are not an object of labels to finite numbers"
    if not isinstance(data["n"], int) or isinstance(data["n"], bool) or data["n"] < 0:
        return "its n is not a whole number >= 0"
    labels = data["labels"]
    if not isinstance(labels, list) or len(labels) > MAX_LABELS or not all(_text(k) for k in labels):
        return "its labels are not a list of strings"
    return calibration_set_problem(data["calibration_set"])


def calibration_set_problem(entries: object) -> str | None:
    """A calibration set is a list of [confidence in [0, 1], correct (bool), cluster, item]."""
    if not isinstance(entries, list):
        return "its calibration_set is not a list"
    for i, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 4:
            return f"calibration_set entry {i} is not [confidence, correct, cluster, item]"
        conf, correct, cluster, item = entry
        if not _number(conf) or not 0.0 <= conf <= 1.0:
            return f"calibration_set entry {i} has confidence {conf!r}, not a number in [0, 1]"
        if not isinstance(correct, bool):
            return f"calibration_set entry {i} has correct {correct!r}, not true or false"
        if not _text(cluster, empty=False) or not _text(item, empty=False):
            return f"calibration_set entry {i} has a cluster or item that is not a non-empty string"
    return None
