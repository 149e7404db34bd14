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

The folder and its files are read back as untrusted, and temp files of killed writers are
cleaned up: ``prefix_files.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

from edgejudge import state_files
from edgejudge.backends.llama.prefix_files import (  # noqa: F401 - callers use them through here
    HEADER_MAX_BYTES,
    MAGIC,
    SUFFIX,
    clear,
    directory,
    entries,
    evict,
    pack,
    parse,
    remove_stale_temps,
    root_problem,
    temp_bytes,
    write_locked,
)

DEFAULT_CAP_MB = 2048
MAX_CAP_MB = 1 << 24  # 16 TiB: any larger figure is a typo
MIN_TOKENS = 16  # shorter heads cost less to evaluate than to look up


def cap_bytes() -> int:
    """The cache's size cap: ``EDGEJUDGE_PREFIX_CACHE_MB`` (default 2048 MB; a finite number of MB
    from 0 to 16 TiB, else a usage error naming the variable)."""
    from edgejudge.environment import env_number

    mb = env_number("EDGEJUDGE_PREFIX_CACHE_MB", 0, MAX_CAP_MB)
    return int((DEFAULT_CAP_MB if mb is None else mb) * 1024 * 1024)


def tokens_sha256(tokens: list[int]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(tokens)}i", *tokens)).hexdigest()


class PrefixCache:
    """Cached prefix states of one model file; ``settings`` (the llama.cpp build and the numeric
    settings of the context) complete every key."""

    def __init__(self, model_sha256: str, root: Path | None = None, cap: int | None = None):
        self.model_sha256 = model_sha256
        self.root = root or directory()
        self.cap = cap_bytes() if cap is None else cap
        self.off = root_problem(self.root)
        if self.off:
            state_files.ignored(self.root, self.off, "the prefix cache is off for this run")
        else:
            remove_stale_temps(self.root)

    def key(self, tokens: list[int], settings: dict) -> dict:
        return {"model_sha256": self.model_sha256, **settings, "n_tokens": len(tokens),
                "tokens_sha256": tokens_sha256(tokens)}

    def path_for(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return self.root / f"{digest[:40]}{SUFFIX}"

    def load(self, tokens: list[int], settings: dict) -> bytes | None:
        """The saved state for exactly these prefix tokens, checked whole; None on any doubt."""
        if self.off:
            return None
        key = self.key(tokens, settings)
        path = self.path_for(key)
        try:
            fd = state_files.open_state(path)
        except (OSError, state_files.StateProblem):
            return None
        try:
            data = state_files.read_bounded(fd, self.cap + len(MAGIC) + 8 + HEADER_MAX_BYTES)
        except (OSError, state_files.StateProblem):
            return None
        finally:
            os.close(fd)
        header, payload = parse(data)
        if header is None or header.get("key") != key:
            return None
        try:
            os.utime(path, follow_symlinks=False)  # least recently *used* goes first
        except (OSError, NotImplementedError):
            pass
        return payload

    def save(self, tokens: list[int], settings: dict, payload: bytes) -> Path | None:
        """Write the state atomically, then evict the least recently used files past the cap."""
        if self.off:
            return None
        key = self.key(tokens, settings)
        path = self.path_for(key)
        if len(payload) + len(MAGIC) > self.cap:
            return None
        try:
            write_locked(path, pack(key, len(tokens), payload))
            evict(self.root, self.cap, keep=path)
        except OSError:
            return None  # a read-only or full store only costs the evaluation next time
        return path

