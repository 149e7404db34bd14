"""What the model store holds: importing, listing, verifying and removing model files.

Layout under ``disk.home()``::

    models/<id>/<QUANT>/<file>.gguf      the model files
    models/<id>/manifest.json            file, quant, size, sha256, source, added (per quant)
    locks/<id>.lock                      held while a model's files or manifest change

Ids and quants are checked against the registry's patterns before they become paths, so no name
can reach outside the store. Every file lands under a temporary name and is renamed when complete
(a kill at any moment leaves the old state or the new one), and a per-model lock keeps two
concurrent pulls or imports of one model from interleaving.
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

from edgejudge import files
from edgejudge.errors import ModelFileError, ModelNotFound, UsageError
from edgejudge.store import disk, gguf_file, registry


def check_name(model_id: str, quant: str | None = None) -> None:
    if not registry.ID_RE.match(model_id or ""):
        raise UsageError(f"{model_id!r} is not a valid model id",
                         hint="ids are lower-case letters, digits, '.', '_' and '-' (no slashes), e.g. my-judge")
    if quant is not None and not registry.QUANT_RE.match(quant):
        raise UsageError(f"{quant!r} is not a valid quant name", hint="e.g. Q4_K_M, Q8_0, BF16")
    if model_id in (".", ".."):
        raise UsageError(f"{model_id!r} is not a valid model id")


def model_dir(model_id: str) -> Path:
    check_name(model_id)
    return disk.home() / "models" / model_id


@contextlib.contextmanager
def locked(model_id: str):
    """Hold the model's lock (blocking): one writer per model at a time, across processes."""
    check_name(model_id)
    path = disk.home() / "locks" / f"{model_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl  # POSIX only: imported here so that `import edgejudge` works on Windows

    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_manifest(model_id: str) -> dict:
    path = model_dir(model_id) / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"id": model_id, "files": {}}
    except (OSError, ValueError):
        raise ModelFileError(f"{path} is unreadable", hint=f"remove it and import or pull {model_id} again") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ModelFileError(f"{path} is not an edgejudge manifest", hint=f"remove it and pull {model_id} again")
    return data


def _write_manifest(model_id: str, manifest: dict) -> None:
    files.write_atomic(model_dir(model_id) / "manifest.json", json.dumps(manifest, indent=2).encode() + b"\n")


def stored_path(model_id: str, quant: str) -> Path | None:
    """The stored file of ``model_id:quant`` according to its manifest, if present."""
    entry = read_manifest(model_id)["files"].get(quant)
    if entry is None:
        return None
    path = model_dir(model_id) / quant / entry["file"]
    return path if path.is_file() else None


def install(src: Path, model_id: str, quant: str, *, source: str, filename: str | None = None,
            expected_sha256: str | None = None, link: bool = False) -> Path:
    """Copy (or hard-link) a GGUF into the store as ``model_id:quant``, atomically, and record it."""
    check_name(model_id, quant)
    src = Path(src)
    gguf_file.read(src)
    filename = filename or src.name
    if "/" in filename or filename.startswith("."):
        raise UsageError(f"{filename!r} is not a plain file name")
    with locked(model_id):
        target_dir = model_dir(model_id) / quant
        target_dir.mkdir(parents=True, exist_ok=True)
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
    with open(src, "rb") as reader, open(tmp, "wb") as writer:
        while chunk := reader.read(1 << 22):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()


def remove(model_id: str, quant: str | None = None) -> list[str]:
    """Remove a stored model (or one quant of it); returns what was removed."""
    check_name(model_id, quant)
    removed = []
    with locked(model_id):
        manifest = read_manifest(model_id)
        quants = [quant] if quant else list(manifest["files"])
        quants = [q for q in quants if q in manifest["files"] or (model_dir(model_id) / q).is_dir()]
        if not quants:
            raise ModelNotFound(f"{model_id}{':' + quant if quant else ''} is not in the store ({disk.home()})",
                                hint="edgejudge models lists what is installed")
        for q in quants:
            shutil.rmtree(model_dir(model_id) / q, ignore_errors=True)
            manifest["files"].pop(q, None)
            removed.append(f"{model_id}:{q}")
        if manifest["files"]:
            _write_manifest(model_id, manifest)
        else:
            (model_dir(model_id) / "manifest.json").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                model_dir(model_id).rmdir()
    return removed


def stored_models() -> list[str]:
    root = disk.home() / "models"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file() and registry.ID_RE.match(p.name))


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
        entries = dict(read_manifest(mid)["files"])
        if spec is not None:
            for quant, file in spec.files.items():
                if file.kind == "pypi" and quant not in entries:
                    path = disk.pypi_file(file.origin, file.filename)
                    if path is not None:
                        entries[quant] = {"file": str(path), "sha256": None, "pypi": True}
        if model_id and not entries:
            raise ModelNotFound(f"{mid} is not installed", hint="edgejudge models lists what is installed")
        for quant, entry in entries.items():
            path = Path(entry["file"]) if entry.get("pypi") else model_dir(mid) / quant / entry["file"]
            expected = [entry.get("sha256")]
            if spec is not None and quant in spec.files:
                expected.append(spec.files[quant].sha256)
            checks.append(_check(f"{mid}:{quant}", path, [e for e in expected if e]))
    return checks


def _check(ref: str, path: Path, expected: list[str]) -> Check:
    if not path.is_file():
        return Check(ref, str(path), False, "the file is missing")
    try:
        gguf_file.read(path)
    except ModelFileError as exc:
        return Check(ref, str(path), False, exc.message)
    digest = disk.file_sha256(path, use_cache=False)
    for wanted in expected:
        if digest != wanted:
            return Check(ref, str(path), False, f"sha256 {digest[:16]}… instead of {wanted[:16]}…", digest)
    return Check(ref, str(path), True, "", digest)
