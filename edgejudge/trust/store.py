"""Calibrations on disk, beside the model, and applying them to verdicts.

A calibration belongs to one key: the model file (sha256), its quant and family, the task and its
variant, thinking on or off and swap on or off. It is stored as JSON in the model store,
``$EDGEJUDGE_HOME/models/ID/QUANT/calibration/TASK[-VARIANT]-think-on|off-swap-on|off.json``
(a model given by path: ``models/_files/SHA256[:16]/``), written atomically. It also records the
prompt template's hash and the settings that shape the probabilities (explanation, budgets,
sampling): when any of these differ from the run's, it does not apply, and the run says so once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from edgejudge.files import write_atomic
from edgejudge.formats import guard
from edgejudge.store import disk, registry
from edgejudge.trust import calibration

VERSION = 1
log = logging.getLogger("edgejudge")


@dataclass(frozen=True)
class Key:
    """What a calibration is for."""

    model_id: str
    quant: str
    sha256: str
    family: str
    task: str
    variant: str
    think: bool
    swap: bool

    def filename(self) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.task}{variant}-think-{'on' if self.think else 'off'}-swap-{'on' if self.swap else 'off'}.json"

    def directory(self) -> Path:
        models = disk.home() / "models"
        if registry.ID_RE.match(self.model_id) and registry.QUANT_RE.match(self.quant):
            return models / self.model_id / self.quant / "calibration"
        return models / "_files" / self.sha256[:16] / "calibration"

    def path(self) -> Path:
        return self.directory() / self.filename()

    def describe(self) -> str:
        return (f"{self.model_id}:{self.quant} {self.task}{'/' + self.variant if self.variant else ''}, "
                f"thinking {'on' if self.think else 'off'}, swap {'on' if self.swap else 'off'}")


def thinks(judge, item, options) -> bool:
    """Whether this item is judged with a reasoning phase (as Format.plan decides)."""
    fmt = judge.format
    family = fmt.table.family
    budget = fmt.think_budget if options.think_budget is None else options.think_budget
    return bool(family.think and fmt.task(item).think is not False and options.think is not False and budget > 0)


def key_for(judge, item, options) -> Key | None:
    """The calibration key of an item judged with ``options`` (None for a remote judge: no file)."""
    described = judge.resolved.describe()
    if not described.get("sha256"):
        return None
    task = judge.format.task(item)
    return Key(described["id"], str(described["quant"]), described["sha256"], described["family"], item.task,
               judge.format.variant(item, task), thinks(judge, item, options), bool(options.swap))


def settings_for(judge, item, options) -> dict:
    """The run settings that shape label probabilities, besides the key and the template."""
    fmt = judge.format
    budget = fmt.think_budget if options.think_budget is None else options.think_budget
    settings = {"explain": bool(options.explain), "max_explain_tokens": options.max_explain_tokens,
                "think_budget": budget if thinks(judge, item, options) else 0,
                "sampling": asdict(options.sampling or fmt.sampling),
                "tie_on_disagreement": bool(options.swap and options.tie_on_disagreement)}
    if fmt.family == "guard":  # strict and loose split the same three levels differently
        settings["policy"] = guard.policy_of(options)
    return settings


def make_record(key: Key, template_sha256: str, settings: dict, fitted: calibration.Fit, *, n: int,
                labels: list[str], held_out: dict, calibration_set: list[list]) -> dict:
    body = {"version": VERSION, "model": {"id": key.model_id, "quant": key.quant, "sha256": key.sha256,
                                          "family": key.family},
            "task": key.task, "variant": key.variant, "think": key.think, "swap": key.swap,
            "template_sha256": template_sha256, "settings": settings,
            "temperature": fitted.temperature, "position_bias": fitted.position_bias, "n": n, "labels": labels,
            "held_out": held_out, "calibration_set": calibration_set}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"id": digest[:12], **body}


def save(key: Key, record: dict) -> Path:
    path = key.path()
    write_atomic(path, json.dumps(record, indent=1).encode() + b"\n")
    return path


def read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Applier:
    """Finds the stored calibration of each verdict's key and applies it (one per judge)."""

    def __init__(self, judge):
        self.judge = judge
        self._cache: dict[Path, tuple[int, dict | None]] = {}
        self._said: set[tuple[Path, str]] = set()

    def _stored(self, path: Path) -> dict | None:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, read(path))
            self._cache[path] = cached
        return cached[1]

    def lookup(self, item, options) -> dict | None:
        """The applicable calibration for this item, or None (saying once why a stored one is not)."""
        key = key_for(self.judge, item, options)
        if key is None:
            return None
        path = key.path()
        stored = self._stored(path)
        if stored is None:
            return None
        reason = self._mismatch(stored, key, item, options)
        if reason is None:
            return stored
        if (path, reason) not in self._said:
            self._said.add((path, reason))
            log.warning(f"the calibration for {key.describe()} does not apply ({reason}); verdicts carry the "
                        f"model's own probabilities: refit it with edgejudge calibrate FILE -m MODEL and the same "
                        f"flags, or pass --no-calibration to silence this")
        return None

    def _mismatch(self, stored: dict, key: Key, item, options) -> str | None:
        if stored.get("version") != VERSION or not isinstance(stored.get("temperature"), (int, float)):
            return f"{key.path()} is not a calibration this edgejudge reads"
        model = stored.get("model", {})
        if model.get("sha256") != key.sha256:
            return "the model file changed since it was fit"
        if model.get("family") != key.family:
            return f"it was fit for the {model.get('family')} family, not {key.family}"
        if stored.get("template_sha256") != self.judge.format.template_sha256():
            return "the prompt template changed since it was fit"
        settings = settings_for(self.judge, item, options)
        changed = sorted(k for k in set(settings) | set(stored.get("settings", {}))
                         if settings.get(k) != stored.get("settings", {}).get(k))
        if changed:
            return f"settings differ from those it was fit with: {', '.join(changed)}"
        return None

    def apply(self, item, options, verdict):
        """The verdict with calibrated ``probabilities``, the model's own in ``raw_probabilities``
        and the calibration's id in its provenance (unchanged when no calibration applies)."""
        if not verdict.probabilities:
            return verdict
        stored = self.lookup(item, options)
        if stored is None:
            return verdict
        fitted = calibration.Fit(stored["temperature"], stored.get("position_bias"))
        raw = verdict.probabilities
        calibrated = calibration.apply(raw, fitted)
        verdict.probabilities = calibrated
        verdict.extra["raw_probabilities"] = {k: round(v, 6) for k, v in raw.items()}
        if verdict.verdict in calibrated:  # a tie made of a swap disagreement stays a tie
            verdict.verdict = max(calibrated, key=calibrated.__getitem__)
            if verdict.score is not None:
                verdict.score = int(verdict.verdict)
                verdict.extra["expected_score"] = round(sum(int(k) * p for k, p in calibrated.items()), 4)
        verdict.provenance = {**verdict.provenance, "calibration": stored["id"]}
        return verdict
