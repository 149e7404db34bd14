"""Reading JSON Lines with bounded memory, once.

A line is read at most ``limit + 1`` bytes at a time: a longer line is skipped to its newline in
fixed-size chunks and reported by its size (:class:`Oversized`), so a 50 MB line costs 64 KiB of
memory, not gigabytes of parsing. The input is read exactly once (a pipe, a FIFO or ``<(...)``
cannot be read twice); the line count for a progress display is taken only from regular files.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from edgejudge.streams.signals import no_guard

SKIP_CHUNK = 1 << 16


@dataclass(frozen=True)
class Oversized:
    """A line longer than the limit, skipped unread; ``size`` is its length in bytes."""

    size: int


def read_lines(handle, limit: int, interruptible: Callable[[], AbstractContextManager] = no_guard
               ) -> Iterator[bytes | Oversized]:
    """The lines of a binary stream (newline kept), each at most ``limit`` bytes, else :class:`Oversized`."""
    readline = handle.readline if interruptible is no_guard or _is_regular(handle) else _Waiter(handle).readline
    while True:
        with interruptible():
            chunk = readline(limit + 1)
        if not chunk:
            return
        if chunk.endswith(b"\n") or len(chunk) <= limit:
            yield chunk
            continue
        size = len(chunk)
        while not chunk.endswith(b"\n"):
            with interruptible():
                chunk = readline(SKIP_CHUNK)
            if not chunk:
                break
            size += len(chunk)
        yield Oversized(size - 1 if chunk.endswith(b"\n") else size)


class _Waiter:
    """Lines of a pipe or terminal, read by a helper thread while the main thread waits in slices.

    A signal may be delivered to any thread of the process (llama.cpp starts several); one that
    lands elsewhere does not interrupt the main thread's blocking read, so its Python handler
    would run only when the next line came. Waiting in slices of a tenth of a second runs it at
    once. The helper reads the raw descriptor (``os.read`` holds no Python lock), so a helper
    still blocked when the process ends cannot hold up the interpreter's shutdown.
    """

    def __init__(self, handle):
        self.fd = handle.fileno()
        self.buffer = bytearray()
        self.scanned = 0  # no newline before this offset of the buffer
        self.eof = False
        self.requests: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve, name="edgejudge-reader", daemon=True).start()

    def _serve(self) -> None:
        while self.requests.get():
            try:
                self.results.put((os.read(self.fd, SKIP_CHUNK), None))
            except OSError as exc:
                self.results.put((b"", exc))
                return

    def _read(self) -> bytes:
        self.requests.put(True)
        while True:
            try:
                chunk, error = self.results.get(timeout=0.1)
            except queue.Empty:
                continue
            if error is not None:
                raise error
            return chunk

    def readline(self, size: int) -> bytes:
        """Like ``BufferedReader.readline(size)``: up to and with a newline, at most ``size`` bytes."""
        while True:
            newline = self.buffer.find(b"\n", self.scanned, size)
            if newline >= 0 or len(self.buffer) >= size or self.eof:
                end = newline + 1 if newline >= 0 else min(size, len(self.buffer))
                line = bytes(self.buffer[:end])
                del self.buffer[:end]
                self.scanned = 0
                return line
            self.scanned = len(self.buffer)
            chunk = self._read()
            if chunk:
                self.buffer += chunk
            else:
                self.eof = True


def _is_regular(handle) -> bool:
    try:
        return stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
    except (OSError, AttributeError, ValueError):
        return True  # in memory: never blocks


def bounded(source: Iterable[bytes], limit: int) -> Iterator[bytes | Oversized]:
    """Lines already in memory (a list, the API's records), with the same size rule."""
    for raw in source:
        body = raw[:-1] if raw.endswith(b"\n") else raw
        yield Oversized(len(body)) if len(body) > limit else raw


def count_lines(handle) -> int | None:
    """Lines of a regular file, without moving its read position; None for a pipe, FIFO or terminal."""
    try:
        fd = handle.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        count, offset, last = 0, 0, b"\n"
        while True:
            if hasattr(os, "pread"):
                chunk = os.pread(fd, 1 << 20, offset)
            else:  # Windows: a second handle on the same file
                with open(handle.name, "rb") as again:
                    again.seek(offset)
                    chunk = again.read(1 << 20)
            if not chunk:
                return count + (last != b"\n")
            count += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
    except (OSError, AttributeError, ValueError):
        return None
