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
import time

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


def leaning(probabilities: dict | None) -> str:
    """``leaning B 0.83``: the label the latest probe favours, and its probability."""
    if not probabilities:
        return ""
    label = max(probabilities, key=probabilities.__getitem__)
    return f"leaning {label} {probabilities[label]:.2f}"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


# A line drawn for people is redrawn at most this often: a 135M model decodes hundreds of tokens a
# second, and writing a line per token would cost more than the token.
REDRAW_S = 0.1


class _Line:
    """One line on stderr, redrawn in place (a tiny renderer: tqdm would only come in as a dependency
    of huggingface_hub, and its bar has no place for a verdict's leaning)."""

    def __init__(self, enabled: bool | None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._drawn = False
        self._width = 0
        self._at = 0.0

    def draw(self, line: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._at < REDRAW_S):
            return
        self._at = now
        pad = max(0, self._width - len(line))
        self._width = len(line)
        sys.stderr.write("\r" + line + " " * pad)
        sys.stderr.flush()
        self._drawn = True

    def done(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


class ThinkProgress(_Line):
    """``judge`` while reasoning: tokens of the budget, tokens/s, time left at that rate, leaning.
    Called by the engine (``engine.watch``) after each token and at each probe."""

    def __init__(self, *, enabled: bool | None = None):
        super().__init__(enabled)
        self._started: float | None = None
        self._lean = ""

    def __call__(self, at: int, budget: int, probabilities: dict | None) -> None:
        now = time.monotonic()
        if self._started is None or at == 0:
            self._started, self._lean = now, ""
        if probabilities is not None:
            self._lean = leaning(probabilities)
        elapsed = now - self._started
        rate = at / elapsed if elapsed > 0 else 0.0
        line = f"thinking {at}/{budget} tokens"
        if rate > 0:
            line += f", {rate:.1f} tok/s, {_clock((budget - at) / rate)} left at most"
        if self._lean:
            line += f", {self._lean}"
        self.draw(line, force=probabilities is not None)


class ItemProgress(_Line):
    """Items done, rate, ETA and the current item's leaning on one stderr line, drawn only when
    stderr is a terminal (or as ``enabled`` says)."""

    def __init__(self, total: int | None, *, enabled: bool | None = None):
        super().__init__(enabled)
        self.total = total
        self._summary = None
        self._lean = ""

    def __call__(self, summary) -> None:
        self._summary = summary
        self._lean = ""
        self._redraw(force=True)

    def think(self, at: int, budget: int, probabilities: dict | None) -> None:
        """The engine's watch: the current item's reasoning and leaning."""
        if probabilities is not None:
            self._lean = leaning(probabilities)
            self._redraw(force=False)

    def _redraw(self, *, force: bool) -> None:
        if not self.enabled:
            return
        summary = self._summary
        done = (summary.ok + summary.failed + summary.abstained) if summary else 0
        seconds = summary.seconds if summary else 0.0
        rate = done / seconds if seconds > 0 else 0.0
        line = f"{done}" + (f"/{self.total}" if self.total else "") + f" items, {rate:.2f}/s"
        if summary and summary.failed:
            line += f", {summary.failed} failed"
        if self.total and rate > 0 and summary:
            line += f", ETA {_clock((self.total - done - summary.skipped) / rate)}"
        if self._lean:
            line += f", item {done + 1} {self._lean}"
        self.draw(line, force=force)
