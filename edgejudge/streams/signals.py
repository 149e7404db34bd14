"""SIGTERM and Ctrl-C for the JSONL loops: stop between records, never inside one.

The first signal asks the loop to stop after the item in hand, whose record is written whole.
Where nothing is in hand (waiting for an input line, loading the model) it stops at once: the
handler raises :class:`StopNow` out of the blocking read. A second signal stops at once too,
except while a record is being written: that write always finishes first, so a reader of the
output never sees half a record.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Self


class StopNow(BaseException):
    """A signal arrived where stopping at once is safe; the loop ends without another record."""


class StopSignals:
    """Handlers for SIGTERM and SIGINT, installed for the life of one ``score`` or ``serve`` run."""

    def __init__(self):
        self.signum: int | None = None
        self._interruptible = 0
        self._writing = 0
        self._saved: dict = {}

    def install(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # signal.signal works there only
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        for signum, previous in self._saved.items():
            signal.signal(signum, previous)
        self._saved.clear()

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def __call__(self) -> bool:
        """Whether a stop was asked for (the ``stop`` callback of :func:`stream.run`)."""
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        again = self.signum is not None
        self.signum = signum
        if self._writing:
            return  # the record in progress is finished first; the loop stops after it
        if self._interruptible or again:
            raise StopNow

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch (a blocking read, the model load) that a signal may end at once."""
        if self.signum is not None:
            raise StopNow
        self._interruptible += 1
        try:
            yield
        finally:
            self._interruptible -= 1

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A stretch (writing one record) that no signal may cut."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1


def no_guard() -> contextlib.AbstractContextManager:
    """The stand-in for :meth:`StopSignals.interruptible` / :meth:`writing` where no signals are handled."""
    return contextlib.nullcontext()
