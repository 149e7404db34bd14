"""stdout is for data, stderr for people.

C code inside llama.cpp (and any library) may print to file descriptor 1 behind Python's back.
:func:`data_writer` takes file descriptor 1 for edgejudge's records and points descriptor 1 at
stderr, so whatever else writes "to stdout" lands on stderr and the data stream stays pure. When
stdout is not a real file descriptor (tests with click's CliRunner), records go to ``sys.stdout``.
"""

from __future__ import annotations

import errno
import os
import sys

import orjson

_writer = None


class DataWriter:
    """Writes JSON records, one per line, flushed as they are written."""

    def __init__(self, binary, text=None):
        self._binary = binary
        self._text = text

    def record(self, obj, *, pretty: bool = False) -> None:
        option = orjson.OPT_INDENT_2 if pretty else 0
        data = orjson.dumps(obj, option=option | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        self.raw(data)

    def raw(self, data: bytes) -> None:
        """Write all of ``data``: an unbuffered pipe may take part of it per call (a short write)."""
        try:
            if self._binary is not None:
                view = memoryview(data)
                while view:
                    written = self._binary.write(view)
                    view = view[written if written is not None else 0:]
                self._binary.flush()
            elif self._text is not None:
                self._text.write(data.decode("utf-8"))
                self._text.flush()
            else:
                raise OSError(errno.EBADF, "stdout is closed")
        except OSError as exc:
            from edgejudge.streams.outfile import output_error

            raise output_error(exc, "stdout") from None

    def text(self, line: str) -> None:
        self.raw(line.encode("utf-8") + (b"" if line.endswith("\n") else b"\n"))

    def isatty(self) -> bool:
        stream = self._binary if self._binary is not None else self._text
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False


def data_writer() -> DataWriter:
    """The process's data stream (created once; see the module docstring)."""
    global _writer
    if _writer is not None:
        return _writer
    try:
        real = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        # Not cached: a test harness swaps sys.stdout between invocations.
        return DataWriter(getattr(sys.stdout, "buffer", None), sys.stdout)
    sys.stdout.flush()
    data_fd = os.dup(1)
    os.dup2(2, 1)
    _writer = DataWriter(os.fdopen(data_fd, "wb", buffering=0))
    return _writer


def warn(message: str) -> None:
    """A line for people, on stderr."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


class Progress:
    """A one-line progress display on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, *, enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = -1

    def bytes(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        percent = int(100 * done / total)
        if percent != self._last:
            self._last = percent
            sys.stderr.write(f"\r{self.label}: {percent:3d}% ({done / 2**20:,.0f} / {total / 2**20:,.0f} MiB)")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self._last >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


class ItemProgress:
    """Items done, rate and ETA on one stderr line, drawn only when stderr is a terminal."""

    def __init__(self, total: int | None, *, enabled: bool | None = None):
        self.total = total
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._drawn = False

    def __call__(self, summary) -> None:
        if not self.enabled:
            return
        done = summary.ok + summary.failed
        rate = done / summary.seconds if summary.seconds > 0 else 0.0
        line = f"\r{done}" + (f"/{self.total}" if self.total else "") + f" items, {rate:.2f}/s"
        if summary.failed:
            line += f", {summary.failed} failed"
        if self.total and rate > 0:
            left = (self.total - done - summary.skipped) / rate
            line += f", ETA {int(left // 60)}:{int(left % 60):02d}"
        sys.stderr.write(line + "   ")
        sys.stderr.flush()
        self._drawn = True

    def done(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
