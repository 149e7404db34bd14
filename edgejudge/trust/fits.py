"""The calibrations stored in the model store: listing them and removing one (``edgejudge calibrate
--list`` and ``--remove ID``).

They live beside their model (``models/ID/QUANT/calibration/*.json``, or
``models/_files/SHA/calibration/*.json`` for a model given by path; see :mod:`.store`). Each file is
untrusted input: one that cannot be read is listed with its problem, never followed out of the
store, and removing touches only a file found by this listing.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from edgejudge.environment import expand_user
from edgejudge.errors import UsageError
from edgejudge.store import disk, paths
from edgejudge.trust import store

# models/ID/QUANT/calibration/SHA256[:16]/*.json, and models/_files/SHA256[:16]/calibration/*.json
PATTERNS = ("*/*/calibration/*/*.json", "_files/*/calibration/*.json")


def listing() -> list[dict]:
    """Every stored calibration: its id, the model and key it is for, its parameters, when and on
    how many items it was fitted, and its file (``problem`` set when the file cannot be read)."""
    root = disk.store_root() / "models"
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for pattern in PATTERNS for p in root.glob(pattern)):
        if path.is_symlink() or not path.is_file():
            continue
        stored, problem = store.read(path)
        stored = stored or {}
        model = stored.get("model") if isinstance(stored.get("model"), dict) else {}
        entry = {"id": stored.get("id") if isinstance(stored.get("id"), str) else None,
                 "model": f"{model.get('id')}:{model.get('quant')}" if model else None,
                 "task": stored.get("task"), "variant": stored.get("variant") or None,
                 "think": stored.get("think"), "swap": stored.get("swap"), "parameters": store.fit_of(stored).describe() if stored else {},
                 "fitted_at": stored.get("fitted_at"), "n": stored.get("n"), "path": str(path)}
        if problem is not None or entry["id"] is None:
            entry["problem"] = (f"not a calibration this edgejudge applies: {problem or 'it has no id'} "
                                "(edgejudge calibrate --remove PATH deletes it)")
        out.append(entry)
    return out


def remove(ident: str) -> list[str]:
    """Delete the stored calibration whose id (or file path) is ``ident``; returns the paths removed."""
    found = [e for e in listing() if ident in (e["id"], e["path"]) or
             (ident and expand_user(ident, "calibrate --remove").resolve() == Path(e["path"]).resolve())]
    if not found:
        raise UsageError(f"no stored calibration has the id {ident!r}",
                         hint="edgejudge calibrate --list shows each calibration's id and file")
    removed = []
    for entry in found:
        path = paths.inside(Path(entry["path"]))  # never a file a link leads to outside the store
        with paths.writing(path.parent):
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the calibration folder, when it held only this one
        removed.append(str(path))
    return removed


def text(entries: list[dict]) -> str:
    """The listing as a table for people."""
    if not entries:
        return f"no calibrations stored in {disk.home()}"
    rows = [f"{'id':<13}{'model':<28}{'key':<34}{'n':>5}  {'fitted':<21}parameters"]
    for e in entries:
        key = "?" if e["task"] is None else \
            f"{e['task']}{'/' + e['variant'] if e['variant'] else ''}, think {'on' if e['think'] else 'off'}, " \
            f"swap {'on' if e['swap'] else 'off'}"
        params = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in e["parameters"].items())
        rows.append(f"{e['id'] or '?':<13}{e['model'] or '?':<28}{key:<34}{e['n'] if e['n'] is not None else '?':>5}  "
                    f"{e['fitted_at'] or '?':<21}{e['path'] + ': ' + e['problem'] if e.get('problem') else params}")
    return "\n".join(rows)
