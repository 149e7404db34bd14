"""The store on disk: where it lives, files shipped inside installed distributions, the hash cache.

Hashes are cached by (path, size, mtime, ctime, inode), so an unchanged 8 GB file is not hashed on
every run. The ctime is in the key because a process can restore a file's size and mtime after
changing it (``os.utime``), but not its ctime: any write or utime moves it.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from edgejudge.errors import StoreError
from edgejudge.files import write_atomic


def home() -> Path:
    """The model store: ``$EDGEJUDGE_HOME``, else ``$XDG_CACHE_HOME/edgejudge``, else ``~/.cache/edgejudge``."""
    from edgejudge.environment import expand_user

    explicit = os.environ.get("EDGEJUDGE_HOME")
    if explicit:
        return expand_user(explicit, "EDGEJUDGE_HOME")
    base = os.environ.get("XDG_CACHE_HOME") or expand_user("~", "the default model store (~/.cache/edgejudge)") / ".cache"
    return Path(base) / "edgejudge"


def store_root() -> Path:
    """:func:`home`, checked to be usable as the store: a directory (or nothing yet), resolved."""
    where = home()
    variable = "EDGEJUDGE_HOME" if os.environ.get("EDGEJUDGE_HOME") else "the model store"
    try:
        root = where.resolve()
        # the store, or the first folder above it that exists (the store is made there on first use)
        existing = next(p for p in (root, *root.parents) if p.exists())
        if not existing.is_dir():
            what = "is not a directory" if existing == root else f"lies under {existing}, which is not a directory"
            raise StoreError(f"{variable} ({where}) {what}",
                             hint="point EDGEJUDGE_HOME at a directory (it is created if missing), or unset it")
    except OSError as exc:
        raise StoreError(f"{variable} ({where}) cannot be used: {exc.strerror or exc}",
                         hint="point EDGEJUDGE_HOME at a directory you can write to") from None
    return root



def pypi_file(distribution: str, filename: str) -> Path | None:
    """A file shipped inside an installed distribution, found through its RECORD (not imported)."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == filename:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    return None


def _hash_key(path: Path) -> str:
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"


def file_sha256(path: Path, *, use_cache: bool = True) -> str:
    """The file's sha256, from the hash cache when the file is unchanged since it was hashed."""
    path = Path(path).resolve()
    key = _hash_key(path)
    if use_cache:
        cached = _read_json(home() / "hashes.json").get(key)
        if cached:
            return cached
    digest = hashlib.sha256()
    from edgejudge.files import open_regular

    with open_regular(path) as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    value = digest.hexdigest()
    remember_sha256(path, value)
    return value


def remember_sha256(path: Path, value: str) -> None:
    """Record a file's hash in the cache (keyed by path, size, mtime, ctime and inode)."""
    path = Path(path).resolve()
    cache_file = home() / "hashes.json"
    cache = {k: v for k, v in _read_json(cache_file, quiet=True).items() if not k.startswith(f"{path}|")}
    cache[_hash_key(path)] = value
    try:
        write_atomic(cache_file, json.dumps(cache, indent=0).encode())
    except OSError:
        pass  # a read-only home only costs a re-hash next time


HASHES_MAX_BYTES = 8 << 20  # about 200 bytes per file hashed


def _read_json(path: Path, *, quiet: bool = False) -> dict:
    """The hash cache, checked (a map of file keys to sha256 digests); an unusable one is empty,
    with a line on stderr, and is replaced by the next hash it records."""
    from edgejudge import schema, state_files

    digest = schema.Str(64, lambda s: all(c in "0123456789abcdef" for c in s), "a sha256 in hex")
    read = state_files.read_state_json(path, schema.MapOf(digest, schema.Str(8192), max_len=200_000),
                                       max_bytes=HASHES_MAX_BYTES)
    if read.problem and not quiet:
        state_files.ignored(path, read.problem, "files are hashed again")
    return read.value if read.ok else {}
