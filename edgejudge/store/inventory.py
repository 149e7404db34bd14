"""What the model store holds: importing, listing, verifying and removing model files.

Layout under ``disk.home()``::

    models/<id>/<QUANT>/<file>.gguf      the model files
    models/<id>/manifest.json            file, quant, size, sha256, source, added (per quant)
    locks/<id>.lock                      held while a model's files or manifest change

Ids and quants are checked against the registry's patterns (whole-string matches) before they
become paths, and every path is checked to resolve inside the store before it is read, written or
removed: a symbolic link in the store that leads out of it is refused, never followed (paths.py).
Every file lands under a temporary name and is renamed when complete (a kill at any moment leaves
the old state or the new one), and a per-model lock keeps two concurrent pulls or imports of one
model from interleaving.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgejudge import files, locks, state_files
from edgejudge.errors import ModelFileError, ModelNotFound, StoreError, UsageError
from edgejudge.files import open_regular
from edgejudge.store import disk, gguf_file, registry
from edgejudge.store.identity import check_identity
from edgejudge.store.paths import (
    check_name,
    inside,
    plain_name,
    shown,
    writing,
)


def model_dir(model_id: str) -> Path:
    check_name(model_id)
    return inside(disk.store_root() / "models" / model_id)


@contextlib.contextmanager
def locked(model_id: str):
    """Hold the model's lock (blocking): one writer per model at a time, across processes (and
    threads: each call opens its own descriptor), on every platform (filelock's primitive, not
    fcntl). The lock file is never followed through a link (locks.py): exit 14 names it."""
    check_name(model_id)
    path = inside(disk.store_root() / "locks") / f"{model_id}.lock"  # the file itself: locks.py
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = locks.held(path)
        lock.__enter__()
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


MANIFEST_ENTRY = {"file": str, "sha256": str, "size": int}
MANIFEST_MAX_BYTES = 1 << 20  # one entry per quant: a few hundred bytes each


def read_manifest(model_id: str) -> dict:
    """The model's manifest, every entry checked (a plain file name, a sha256, a size)."""
    path = inside(model_dir(model_id) / "manifest.json")
    fix = f"remove it with edgejudge rm {model_id}, then import or pull it again"
    read = state_files.read_state_json(path, max_bytes=MANIFEST_MAX_BYTES)
    if read.missing:
        return {"id": model_id, "files": {}}
    if read.problem:
        raise ModelFileError(f"{path} is unusable: it {read.problem}", hint=fix)
    data = read.value
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ModelFileError(f"{path} is not an edgejudge manifest", hint=fix)
    for quant, entry in data["files"].items():
        if not registry.valid_quant(quant) or not isinstance(entry, dict):
            raise ModelFileError(f"{path}: {shown(quant)} is not a quant with an entry", hint=fix)
        for key, kind in MANIFEST_ENTRY.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                raise ModelFileError(f"{path}: files.{quant}.{key} is missing or not a {kind.__name__}", hint=fix)
        if not plain_name(entry["file"]):
            raise ModelFileError(f"{path}: files.{quant}.file {shown(entry['file'])} is not a plain file name",
                                 hint=fix)
    return data


def _write_manifest(model_id: str, manifest: dict) -> None:
    path = inside(model_dir(model_id) / "manifest.json")
    with writing(path):
        files.write_atomic(path, json.dumps(manifest, indent=2).encode() + b"\n")


def stored_path(model_id: str, quant: str) -> Path | None:
    """The stored file of ``model_id:quant`` according to its manifest, if present."""
    entry = read_manifest(model_id)["files"].get(quant)
    if entry is None:
        return None
    path = inside(model_dir(model_id) / quant / entry["file"])
    return path if path.is_file() else None


def install(src: Path, model_id: str, quant: str, *, source: str, filename: str | None = None,
            expected_sha256: str | None = None, link: bool = False) -> Path:
    """Copy (or hard-link) a GGUF into the store as ``model_id:quant``, atomically, and record it."""
    check_name(model_id, quant)
    src = Path(src)
    check_identity(gguf_file.read(src), model_id, quant)
    filename = filename or src.name
    if not plain_name(filename):
        raise UsageError(f"{shown(filename)} is not a plain file name")
    with locked(model_id):
        target_dir = inside(model_dir(model_id) / quant)
        with writing(target_dir):
            target_dir.mkdir(parents=True, exist_ok=True)
            return _install_locked(src, model_id, quant, target_dir, filename, source, expected_sha256, link)


def _install_locked(src: Path, model_id: str, quant: str, target_dir: Path, filename: str, source: str,
                    expected_sha256: str | None, link: bool) -> Path:
    """The body of :func:`install`, under the model's lock."""
    for leftover in target_dir.glob(".*.part"):  # from a writer killed mid-copy; we hold the lock
        leftover.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=f".{filename}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        digest = _place(src, tmp, link)
        if expected_sha256 and digest != expected_sha256:
            raise ModelFileError(f"{src} has sha256 {digest[:16]}… but {model_id}:{quant} must be "
                                 f"{expected_sha256[:16]}…", hint="the file is corrupt or is another model")
        target = target_dir / filename
        if target.exists() and os.path.samefile(tmp, target):
            tmp.unlink()  # already there (hard links to one file: rename would do nothing)
        else:
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = read_manifest(model_id)
    for stale in target_dir.iterdir():
        if stale.name != filename and not stale.name.startswith("."):
            stale.unlink()
    manifest["files"][quant] = {"file": filename, "quant": quant, "size": target.stat().st_size,
                                "sha256": digest, "source": source, "added": int(time.time())}
    _write_manifest(model_id, manifest)
    disk.remember_sha256(target, digest)
    return target


def _place(src: Path, tmp: Path, link: bool) -> str:
    """Put ``src``'s bytes at ``tmp`` (a hard link where asked and possible), return their sha256."""
    if link:
        try:
            tmp.unlink()
            os.link(src, tmp)
            return disk.file_sha256(tmp, use_cache=False)
        except OSError:
            pass  # another filesystem: copy
    digest = hashlib.sha256()
    with open_regular(src) as reader, open(tmp, "wb") as writer:
        while chunk := reader.read(1 << 22):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()


def remove(model_id: str, quant: str | None = None) -> list[str]:
    """Remove a stored model (or one quant of it); returns what was removed. Works on a model whose
    manifest is broken, and removes nothing a link in the store points at."""
    check_name(model_id, quant)
    removed = []
    with locked(model_id):
        folder = model_dir(model_id)
        try:
            manifest = read_manifest(model_id)
        except ModelFileError:
            manifest = {"id": model_id, "files": {}}  # unreadable: remove what is on disk
        on_disk = [p.name for p in folder.iterdir() if p.is_dir() and registry.valid_quant(p.name)] \
            if folder.is_dir() else []
        quants = [quant] if quant else sorted(set(manifest["files"]) | set(on_disk))
        quants = [q for q in quants if q in manifest["files"] or q in on_disk]
        if not quants:
            raise ModelNotFound(f"{model_id}{':' + quant if quant else ''} is not in the store ({disk.home()})",
                                hint="edgejudge models lists what is installed")
        with writing(folder):
            for q in quants:
                target = inside(folder / q)
                if target.is_dir():
                    shutil.rmtree(target)
                manifest["files"].pop(q, None)
                removed.append(f"{model_id}:{q}")
            if manifest["files"]:
                _write_manifest(model_id, manifest)
            else:
                inside(folder / "manifest.json").unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return removed


def stored_models() -> list[str]:
    root = disk.store_root() / "models"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if registry.valid_id(p.name) and not p.is_symlink()
                  and (p / "manifest.json").is_file())


@dataclass(frozen=True)
class Check:
    ref: str
    path: str
    ok: bool
    problem: str = ""
    sha256: str = ""


def verify(model_id: str | None = None) -> list[Check]:
    """Re-hash and re-validate installed files against their manifest and the registry."""
    reg = registry.load()
    ids = [model_id] if model_id else sorted(set(stored_models()) | {
        s.id for s in reg.models.values() if any(f.kind == "pypi" for f in s.files.values())})
    checks = []
    for mid in ids:
        check_name(mid)
        spec = reg.models.get(mid)
        try:
            entries = dict(read_manifest(mid)["files"])
        except (ModelFileError, StoreError) as exc:
            checks.append(Check(mid, str(disk.home() / "models" / mid), False, exc.message))
            continue
        if spec is not None:
            for quant, file in spec.files.items():
                if file.kind == "pypi" and quant not in entries:
                    path = disk.pypi_file(file.origin, file.filename)
                    if path is not None:
                        entries[quant] = {"file": str(path), "sha256": None, "pypi": True}
        if model_id and not entries:
            raise ModelNotFound(f"{mid} is not installed",
                                hint=f"download it with: edgejudge pull {mid}" if spec is not None
                                else "edgejudge models lists what is installed")
        for quant, entry in entries.items():
            path = Path(entry["file"]) if entry.get("pypi") else model_dir(mid) / quant / entry["file"]
            expected = [entry.get("sha256")]
            if spec is not None and quant in spec.files:
                expected.append(spec.files[quant].sha256)
            checks.append(_check(mid, quant, path, [e for e in expected if e], stored=not entry.get("pypi")))
    return checks


def _check(model_id: str, quant: str, path: Path, expected: list[str], *, stored: bool) -> Check:
    ref = f"{model_id}:{quant}"
    try:
        if stored:
            inside(path)
        if not path.is_file():
            return Check(ref, str(path), False, "the file is missing")
        check_identity(gguf_file.read(path), model_id, quant)
    except (ModelFileError, StoreError) as exc:
        return Check(ref, str(path), False, exc.message)
    digest = disk.file_sha256(path, use_cache=False)
    for wanted in expected:
        if digest != wanted:
            return Check(ref, str(path), False, f"sha256 {digest[:16]}… instead of {wanted[:16]}…", digest)
    return Check(ref, str(path), True, "", digest)
