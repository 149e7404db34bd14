"""The persistent prefix cache: the KV state of a prompt's fixed head, saved once per model file.

A judge's prompt starts with text no user wrote: the family's system prompt, task description,
rubric and output schema (405 of 442 tokens for an mR3 pair). Its KV state is saved after the
first evaluation (llama.cpp's per-sequence state) and loaded by every later call, in any process,
instead of being evaluated again.

A file is found by a key made of everything that changes the tokens or the numbers: the model's
sha256, the llama.cpp build, the prefix token ids, and the context settings that change the
computed values (KV types, flash attention, batch sizes, weight repacking, GPU layers). The
context size is not in the key: a prefix's KV values do not depend on how many cells follow it.

File layout: ``MAGIC``, an 8-byte little-endian header length, a JSON header (key, token count,
payload length and sha256), then the payload. Nothing reaches llama.cpp before the header, the
length and the checksum are checked, so a corrupt or truncated file is a miss, never a crash.
Files live in ``<store>/prefix-cache/``; the least recently used go when the total passes the cap.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from edgejudge.files import write_atomic

MAGIC = b"EDGEJUDGE-PREFIX-1\n"
SUFFIX = ".kv"
DEFAULT_CAP_MB = 2048
MIN_TOKENS = 16  # shorter heads cost less to evaluate than to look up


def directory() -> Path:
    from edgejudge.store import disk

    return disk.home() / "prefix-cache"


def cap_bytes() -> int:
    """The cache's size cap: ``EDGEJUDGE_PREFIX_CACHE_MB`` (default 2048 MB)."""
    text = os.environ.get("EDGEJUDGE_PREFIX_CACHE_MB")
    try:
        return int(float(text) * 1024 * 1024) if text else DEFAULT_CAP_MB * 1024 * 1024
    except ValueError:
        from edgejudge.errors import UsageError

        raise UsageError(f"EDGEJUDGE_PREFIX_CACHE_MB must be a number, got {text!r}") from None


def tokens_sha256(tokens: list[int]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(tokens)}i", *tokens)).hexdigest()


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


class PrefixCache:
    """Cached prefix states of one model file; ``settings`` (the llama.cpp build and the numeric
    settings of the context) complete every key."""

    def __init__(self, model_sha256: str, root: Path | None = None, cap: int | None = None):
        self.model_sha256 = model_sha256
        self.root = root or directory()
        self.cap = cap_bytes() if cap is None else cap

    def key(self, tokens: list[int], settings: dict) -> dict:
        return {"model_sha256": self.model_sha256, **settings, "n_tokens": len(tokens),
                "tokens_sha256": tokens_sha256(tokens)}

    def path_for(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return self.root / f"{digest[:40]}{SUFFIX}"

    def load(self, tokens: list[int], settings: dict) -> bytes | None:
        """The saved state for exactly these prefix tokens, checked whole; None on any doubt."""
        key = self.key(tokens, settings)
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        header, payload = parse(data)
        if header is None or header.get("key") != key:
            return None
        try:
            os.utime(path)  # least recently *used* goes first
        except OSError:
            pass
        return payload

    def save(self, tokens: list[int], settings: dict, payload: bytes) -> Path | None:
        """Write the state atomically, then evict the least recently used files past the cap."""
        key = self.key(tokens, settings)
        path = self.path_for(key)
        if len(payload) + len(MAGIC) > self.cap:
            return None
        try:
            write_atomic(path, pack(key, len(tokens), payload))
            evict(self.root, self.cap, keep=path)
        except OSError:
            return None  # a read-only or full store only costs the evaluation next time
        return path


def pack(key: dict, n_tokens: int, payload: bytes) -> bytes:
    header = json.dumps({"key": key, "n_tokens": n_tokens, "payload_bytes": len(payload),
                         "payload_sha256": hashlib.sha256(payload).hexdigest(),
                         "created": time.time()}, sort_keys=True).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + payload


def parse(data: bytes) -> tuple[dict | None, bytes | None]:
    """(header, payload) of a cache file's bytes, or (None, None) when anything is off."""
    start = len(MAGIC) + 8
    if len(data) < start or not data.startswith(MAGIC):
        return None, None
    (n,) = struct.unpack("<Q", data[len(MAGIC):start])
    if n > len(data) - start:
        return None, None
    try:
        header = json.loads(data[start:start + n])
    except ValueError:
        return None, None
    if not isinstance(header, dict) or not isinstance(header.get("key"), dict):
        return None, None
    payload = data[start + n:]
    if len(payload) != header.get("payload_bytes") or hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        return None, None
    return header, payload


def _read_header(path: Path) -> dict | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(MAGIC) + 8)
            if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
                return None
            (n,) = struct.unpack("<Q", head[len(MAGIC):])
            header = json.loads(handle.read(min(n, 1 << 20)))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None


def entries(root: Path | None = None) -> list[Entry]:
    """The cache's files, least recently used first."""
    root = root or directory()
    found = []
    for path in root.glob(f"*{SUFFIX}"):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append(Entry(path, stat.st_size, stat.st_mtime, _read_header(path)))
    return sorted(found, key=lambda e: e.last_used)


def evict(root: Path, cap: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used files until the total is within ``cap``."""
    listed = entries(root)
    total = sum(e.size for e in listed)
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
    """Delete every cached prefix (and leftovers of interrupted writes); (files, bytes) freed."""
    root = root or directory()
    count = size = 0
    for path in [*root.glob(f"*{SUFFIX}"), *root.glob(f".*{SUFFIX}.*.tmp")]:
        try:
            size += path.stat().st_size
            path.unlink()
            count += 1
        except OSError:
            continue
    return count, size
