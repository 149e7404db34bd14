"""The prefix cache's files and folder: the file format (magic, header, payload), and the folder
read back as untrusted (docs/hardening.md, state files).

A file is opened only when it is a regular file (a FIFO named ``*.kv`` is never waited on), sizes
are bounded before reading, and the header is checked field by field: anything off is a miss. A
folder that is a symbolic link is neither written, listed through, nor deleted through. A save
writes a temporary file (``.<name>.kv.<random>.tmp``) that is locked while it is written; one left
by a writer killed mid-write is unlocked and older than this run, so the next run removes it, and
until then it counts against the cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import json

from edgejudge import schema, state_files

MAGIC = b"EDGEJUDGE-PREFIX-1\n"
SUFFIX = ".kv"
TEMP_GLOB = f".*{SUFFIX}.*.tmp"
HEADER_MAX_BYTES = 1 << 20
RUN_STARTED = time.time()  # temp files older than this, and unlocked, were left by a killed writer

_HEX64 = schema.Str(64, lambda s: all(c in "0123456789abcdef" for c in s), "a sha256 in hex")
HEADER = schema.Obj({"key": schema.MapOf(schema.Anything(), max_len=64), "n_tokens": schema.Int(0, 1 << 24),
                     "payload_bytes": schema.Int(0, 1 << 50), "payload_sha256": _HEX64},
                    {"created": schema.Num(0, 1e11)})


def directory() -> Path:
    from edgejudge.store import disk

    return disk.home() / "prefix-cache"


def root_problem(root: Path) -> str | None:
    """Why the cache folder cannot be used (a link, not a folder), in words; None when it can
    (or does not exist yet)."""
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror or exc})"
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(root)
        except OSError:
            target = "elsewhere"
        return f"is a symbolic link (to {target}); edgejudge neither writes nor deletes through links"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    return None


@dataclass(frozen=True)
class Entry:
    """One cached prefix, as ``edgejudge cache ls`` shows it."""

    path: Path
    size: int
    last_used: float
    header: dict | None  # None: unreadable (it will be a miss, and goes on the next eviction)

    def as_dict(self) -> dict:
        head = self.header or {}
        return {"file": self.path.name, "bytes": self.size, "last_used": round(self.last_used, 3),
                "tokens": head.get("n_tokens"), "model_sha256": head.get("key", {}).get("model_sha256"),
                "valid_header": self.header is not None}


def write_locked(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file beside it that is locked while written, so
    that another run can tell a live writer's temp file from one a killed writer left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if root_problem(path.parent):  # made a link between the check and now
        raise OSError(f"{path.parent} is not a plain directory")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with contextlib.suppress(OSError, ImportError):
            from filelock import lock_descriptor

            lock_descriptor(fd, blocking=False)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # closing drops the lock


def _temps(root: Path) -> list[tuple[Path, os.stat_result]]:
    found = []
    for path in root.glob(TEMP_GLOB):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            found.append((path, info))
    return found


def remove_stale_temps(root: Path, *, before: float | None = None) -> list[Path]:
    """Remove temp files of saves that never finished: edgejudge's own (by name), regular files,
    last written before ``before`` (default: this run's start) and not locked by a live writer."""
    if root_problem(root) or not root.is_dir():
        return []
    before = RUN_STARTED if before is None else before
    removed = []
    for path, info in _temps(root):
        if info.st_mtime >= before:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            from filelock import lock_descriptor

            if lock_descriptor(fd, blocking=False):  # no live writer holds it
                path.unlink(missing_ok=True)
                removed.append(path)
        except (OSError, ImportError):
            pass
        finally:
            os.close(fd)
    return removed


def pack(key: dict, n_tokens: int, payload: bytes) -> bytes:
    header = json.dumps({"key": key, "n_tokens": n_tokens, "payload_bytes": len(payload),
                         "payload_sha256": hashlib.sha256(payload).hexdigest(),
                         "created": time.time()}, sort_keys=True).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + payload


def _header(data: bytes) -> dict | None:
    """A header's bytes, parsed and checked (docs/hardening.md); None when anything is off."""
    try:
        return HEADER(state_files.parse_json(data, max_depth=8))
    except (state_files.StateProblem, schema.Invalid):
        return None


def parse(data: bytes) -> tuple[dict | None, bytes | None]:
    """(header, payload) of a cache file's bytes, or (None, None) when anything is off."""
    start = len(MAGIC) + 8
    if len(data) < start or not data.startswith(MAGIC):
        return None, None
    (n,) = struct.unpack("<Q", data[len(MAGIC):start])
    if n > min(len(data) - start, HEADER_MAX_BYTES):
        return None, None
    header = _header(data[start:start + n])
    if header is None:
        return None, None
    payload = data[start + n:]
    if len(payload) != header["payload_bytes"] or hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        return None, None
    return header, payload


def _read_header(path: Path) -> dict | None:
    try:
        fd = state_files.open_state(path)
    except (OSError, state_files.StateProblem):
        return None
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            head = handle.read(len(MAGIC) + 8)
            if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
                return None
            (n,) = struct.unpack("<Q", head[len(MAGIC):])
            if n > HEADER_MAX_BYTES:
                return None
            return _header(handle.read(n))
    except OSError:
        return None
    finally:
        os.close(fd)


def entries(root: Path | None = None, *, strict: bool = False) -> list[Entry]:
    """The cache's files (regular files only, never through a linked folder), least recently used
    first. ``strict``: a folder that cannot be used is a StoreError rather than an empty cache."""
    root = root or directory()
    problem = root_problem(root)
    if problem:
        if strict:
            _refuse(root, problem)
        return []
    found = []
    for path in root.glob(f"*{SUFFIX}"):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            found.append(Entry(path, info.st_size, info.st_mtime, _read_header(path)))
    return sorted(found, key=lambda e: e.last_used)


def temp_bytes(root: Path | None = None) -> int:
    """Bytes held by temp files of saves (live or left by a killed writer): they count on the cap."""
    root = root or directory()
    return 0 if root_problem(root) else sum(info.st_size for _, info in _temps(root))


def _refuse(root: Path, problem: str):
    from edgejudge.errors import StoreError

    raise StoreError(f"the prefix cache folder {root} {problem}",
                     hint=f"remove the link (rm {root}); edgejudge makes a plain folder there on next use")


def evict(root: Path, cap: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used files until the total (temp files included) is within ``cap``."""
    listed = entries(root)
    total = sum(e.size for e in listed) + temp_bytes(root)
    removed = []
    for entry in listed:
        if total <= cap:
            break
        if entry.path == keep:
            continue
        entry.path.unlink(missing_ok=True)
        total -= entry.size
        removed.append(entry.path)
    return removed


def clear(root: Path | None = None) -> tuple[int, int]:
    """Delete every cached prefix (and leftovers of interrupted writes); (files, bytes) freed.
    Never through a link: a folder that is a symbolic link is a StoreError, and a link inside it
    is removed itself, its target untouched."""
    root = root or directory()
    problem = root_problem(root)
    if problem:
        _refuse(root, problem)
    count = size = 0
    for path in [*root.glob(f"*{SUFFIX}"), *root.glob(TEMP_GLOB)]:
        try:
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                continue
            path.unlink()
            size += info.st_size if stat.S_ISREG(info.st_mode) else 0
            count += 1
        except OSError:
            continue
    return count, size
