"""Calibrations on disk, beside the model, and applying them to verdicts.

A calibration belongs to one key: the model file (its sha256), its quant and family, the task and
its variant, thinking on or off, swap on or off, and the numerics (the runtime settings that change
probabilities, when there are any: :func:`numerics_for`). It is stored as JSON in the model store,
``$EDGEJUDGE_HOME/models/ID/QUANT/calibration/SHA256[:16]/TASK[-VARIANT]-think-on|off-swap-on|off.json``
(a model given by a path that names no valid id: ``models/_files/SHA256[:16]/calibration/``),
written atomically; the file's own sha256 in the path means two files that share a name never
share a calibration. It also records the prompt template's hash and the settings that shape the
probabilities (explanation, budgets, sampling): when any of these differ from the run's, it does
not apply, and the run says so once. Read back, a record is untrusted: opened only as a regular
file of bounded size and checked by :mod:`~edgejudge.trust.schema`; one that fails is not applied,
said once on stderr with the file and the problem, and the verdicts say so in
``provenance.calibration_skipped``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edgejudge import state_files
from edgejudge.files import write_atomic
from edgejudge.formats import guard
from edgejudge.judging import verdict as verdict_fields
from edgejudge.store import disk, registry
from edgejudge.trust import calibration, schema

VERSION = schema.VERSION
NUMERICS_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
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
    numerics: str = ""  # the runtime settings that change probabilities ("" where none do)

    def filename(self) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        numerics = f"-numerics-{_safe(self.numerics)}" if self.numerics else ""
        return (f"{self.task}{variant}-think-{'on' if self.think else 'off'}-swap-{'on' if self.swap else 'off'}"
                f"{numerics}.json")

    def directory(self) -> Path:
        models = disk.home() / "models"
        if registry.ID_RE.match(self.model_id) and registry.QUANT_RE.match(self.quant):
            return models / self.model_id / self.quant / "calibration" / self.sha256[:16]
        return models / "_files" / self.sha256[:16] / "calibration"

    def path(self) -> Path:
        return self.directory() / self.filename()

    def describe(self) -> str:
        return (f"{self.model_id}:{self.quant} {self.task}{'/' + self.variant if self.variant else ''}, "
                f"thinking {'on' if self.think else 'off'}, swap {'on' if self.swap else 'off'}"
                + (f", numerics {self.numerics}" if self.numerics else ""))


def _safe(text: str) -> str:
    """A numerics key as a file name part: itself when plain, else its hash."""
    return text if NUMERICS_RE.fullmatch(text) else hashlib.sha256(text.encode()).hexdigest()[:16]


def numerics_for(judge) -> str:
    """The numerics part of the key: the runtime settings that change a verdict's probabilities
    (the llama.cpp build, weight repacking as applied, flash attention, GPU layers: the runtime's
    ``numerics_key``, docs/speed.md "Tuning and probabilities"). It enters the file name, the record
    and the check, so a fit made under one setting is never applied under another."""
    key = getattr(getattr(judge, "info", None), "numerics_key", "")
    return key if isinstance(key, str) else ""


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
               judge.format.variant(item, task), thinks(judge, item, options), bool(options.swap),
               numerics_for(judge))


def settings_for(judge, item, options) -> dict:
    """The run settings that shape label probabilities, besides the key and the template."""
    fmt = judge.format
    budget = fmt.think_budget if options.think_budget is None else options.think_budget
    settings = {"explain": fmt.explains(options), "max_explain_tokens": options.max_explain_tokens,
                "think_budget": budget if thinks(judge, item, options) else 0,
                "sampling": asdict(options.sampling or fmt.sampling),
                "tie_on_disagreement": bool(options.swap and options.tie_on_disagreement)}
    if fmt.family == "guard":  # strict and loose split the same three levels differently
        settings["policy"] = guard.policy_of(options)
    return settings


def make_record(key: Key, template_sha256: str, settings: dict, fitted: calibration.Fit, *, n: int,
                labels: list[str], held_out: dict, calibration_set: list[list]) -> dict:
    """A calibration as stored. ``calibration_set`` holds the held-out [confidence, correct,
    cluster, item] of each calibration item, for the emitted verdict (see docs/trust.md)."""
    body = {"version": VERSION, "model": {"id": key.model_id, "quant": key.quant, "sha256": key.sha256,
                                          "family": key.family},
            "task": key.task, "variant": key.variant, "think": key.think, "swap": key.swap,
            "numerics": key.numerics, "template_sha256": template_sha256, "settings": settings,
            "method": "temperature+bias", "temperature": fitted.temperature, "biases": dict(fitted.biases),
            "n": n, "labels": labels, "held_out": held_out, "calibration_set": calibration_set,
            "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"id": digest[:12], **body}


def fit_of(record: dict) -> calibration.Fit:
    """The fitted parameters of a (checked) stored record."""
    return calibration.Fit(float(record["temperature"]), {k: float(v) for k, v in record["biases"].items()})


def save(key: Key, record: dict) -> Path:
    path = key.path()
    write_atomic(path, json.dumps(record, indent=1).encode() + b"\n")
    return path


def read(path: Path) -> tuple[dict | None, str | None]:
    """A stored calibration and None, or None and the problem in words (None, None: there is none).
    Read by the one reader of edgejudge's own state files (a regular file of at most
    ``schema.MAX_BYTES``, bounded nesting), then checked by :mod:`~edgejudge.trust.schema`."""
    got = state_files.read_state_json(path, max_bytes=schema.MAX_BYTES)
    if got.missing:
        return None, None
    if got.problem is not None:
        return None, f"it {got.problem}"
    problem = schema.problem(got.value)
    return (None, problem) if problem else (got.value, None)


class Applier:
    """Finds the stored calibration of each verdict's key and applies it (one per judge)."""

    def __init__(self, judge):
        self.judge = judge
        self._cache: dict[Path, tuple[tuple, tuple[dict | None, str | None]]] = {}
        self._said: set[tuple[Path, str]] = set()
        # Called once per calibration file with a line saying it applies (the CLI sets it on a terminal).
        self.announce: Callable[[str], None] | None = None
        self._announced: set[Path | None] = set()

    def _stored(self, path: Path) -> tuple[dict | None, str | None]:
        try:
            st = path.stat()
        except OSError:
            return None, None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, read(path))
            self._cache[path] = cached
        return cached[1]

    def _say(self, path: Path, reason: str, message: str) -> None:
        if (path, reason) not in self._said:
            self._said.add((path, reason))
            log.warning(message)

    def check(self, item, options) -> tuple[dict | None, str | None]:
        """The applicable calibration for this item, or None and why a stored one is not
        applied (None, None: none is stored), said once per file and reason."""
        key = key_for(self.judge, item, options)
        if key is None:
            return None, None
        path = key.path()
        stored, problem = self._stored(path)
        if problem is not None:
            self._say(path, problem, f"ignoring the stored calibration {path}: {problem}; verdicts carry "
                                     f"the model's own probabilities (refit it with edgejudge calibrate)")
            return None, f"invalid: {problem}"
        if stored is None:
            return None, None
        reason = self._mismatch(stored, key, item, options)
        if reason is None:
            return stored, None
        self._say(path, reason, f"the calibration for {key.describe()} does not apply ({reason}); verdicts carry the "
                                f"model's own probabilities: refit it with edgejudge calibrate FILE -m MODEL and the "
                                f"same flags, or pass --no-calibration to silence this")
        return None, reason

    def lookup(self, item, options) -> dict | None:
        """The applicable calibration for this item, or None."""
        return self.check(item, options)[0]

    def _mismatch(self, stored: dict, key: Key, item, options) -> str | None:
        model = stored["model"]
        if model["sha256"] != key.sha256:
            return "the model file changed since it was fit"
        if model["family"] != key.family:
            return f"it was fit for the {model['family']} family, not {key.family}"
        if stored["numerics"] != key.numerics:
            return "the runtime numerics differ from those it was fit with"
        if stored["template_sha256"] != self.judge.format.template_sha256():
            return "the prompt template changed since it was fit"
        settings = settings_for(self.judge, item, options)
        changed = sorted(k for k in set(settings) | set(stored["settings"])
                         if settings.get(k) != stored["settings"].get(k))
        if changed:
            return f"settings differ from those it was fit with: {', '.join(map(str, changed))}"
        return None

    def apply(self, item, options, verdict):
        """The verdict with calibrated ``probabilities``, the model's own in ``raw_probabilities``
        and the calibration's id in its provenance (unchanged when no calibration applies; where a
        stored one is not applied, ``provenance.calibration_skipped`` says why)."""
        if not verdict.probabilities:
            return verdict
        stored, skipped = self.check(item, options)
        if stored is None:
            if skipped is not None:
                verdict.provenance = {**verdict.provenance, "calibration_skipped": skipped}
            return verdict
        fitted = fit_of(stored)
        raw = verdict.probabilities
        calibrated = calibration.apply(raw, fitted)
        # Rounded as every record is, so that the API's numbers are the JSON's.
        verdict.probabilities = verdict_fields.rounded(calibrated)
        verdict.raw_probabilities = dict(raw)
        verdict.calibration = self.describe(item, options, stored, fitted)
        tie = isinstance(verdict.swap, dict) and "tie_confidence" in verdict.swap
        if verdict.verdict in calibrated and not tie:  # a tie made of a swap disagreement stays a tie
            verdict.verdict = max(calibrated, key=calibrated.__getitem__)
            if verdict.score is not None:
                verdict.score = int(verdict.verdict)
                verdict.extra["expected_score"] = round(sum(int(k) * p for k, p in calibrated.items()), 4)
        verdict.provenance = {**verdict.provenance, "calibration": stored["id"]}
        return verdict

    def describe(self, item, options, stored: dict, fitted: calibration.Fit) -> dict:
        """The ``calibration`` field of a calibrated verdict; says once that it applies."""
        key = key_for(self.judge, item, options)
        path = key.path() if key is not None else None
        described = {"id": stored.get("id"), "key": key.describe() if key is not None else None,
                     "parameters": fitted.describe(), "fitted_at": stored.get("fitted_at"),
                     "n": stored.get("n"), "path": str(path) if path is not None else None}
        if self.announce is not None and path not in self._announced:
            self._announced.add(path)
            self.announce(applies_line(described))
        return described


def applies_line(described: dict) -> str:
    """One line for people: which calibration changes the probabilities, and how to turn it off."""
    fitted = f" (fitted {described['fitted_at']}" if described.get("fitted_at") else " ("
    fitted += f"{', ' if described.get('fitted_at') else ''}on {described.get('n')} items)"
    return (f"calibration {described.get('id')} applies to {described.get('key')}{fitted}: probabilities are "
            f"calibrated, the model's own are in raw_probabilities; --no-calibration turns it off, "
            f"edgejudge calibrate --remove {described.get('id')} deletes it")
