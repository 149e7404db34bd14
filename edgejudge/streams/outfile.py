"""The output file of ``score -o``: checked, locked, and touched only once the run starts.

Before anything is loaded, :class:`OutputFile` refuses an output that is the input (the same
file, through a symlink or a hard link too) or that is not a regular file, and takes an exclusive
lock that a second run on the same output meets (it is told the holder's pid and host). The file
itself is opened, and truncated for a fresh run, only by :meth:`OutputFile.open`, which ``score``
calls after the model is loaded: a typo in ``-m`` or an unreachable server leaves an earlier
results file as it was.

The lock is a file beside the output (``OUT.lock``) locked with the ``filelock`` package's
native primitive (``flock`` on POSIX, ``LockFileEx`` on Windows); the kernel releases it when
the process dies, even by ``kill -9``, so a stale lock file never blocks a later run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path
from typing import Self

from edgejudge import outputs
from edgejudge.errors import OutputError
from edgejudge.outputs import output_error  # noqa: F401 - named here by the stream modules
from edgejudge.locks import open_lock_file


def write_all(fd: int, data: bytes, name: str) -> None:
    """Write all of ``data`` to ``fd`` (a short write, as a pipe gives, is continued)."""
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]
    except OSError as exc:
        raise output_error(exc, name) from None


class OutputLock:
    """An exclusive lock on ``OUT.lock`` beside the output, naming its holder."""

    def __init__(self, target: Path):
        self.target = target
        self.path = target.with_name(target.name + ".lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        from filelock import lock_descriptor

        for _ in range(10):  # the holder may remove the file between our open and our lock
            try:  # never through a link, never a FIFO or a directory (locks.py): exit 14 names it
                fd = open_lock_file(self.path)
            except OSError as exc:
                raise output_error(exc, f"{self.path.parent} (for the lock file {self.path.name})") from None
            try:
                locked = lock_descriptor(fd, blocking=False)
            except OSError as exc:
                os.close(fd)
                raise OutputError(f"cannot lock {self.path}: {exc.strerror or exc}",
                                  hint="this file system may not support locks; write the output elsewhere") from None
            if not locked:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputError(f"{self.target} is being written by another edgejudge run ({holder})",
                                  code="output_locked",
                                  hint="wait for that run to end (or stop it), then rerun with --resume")
            if _same_file(fd, self.path):
                break
            os.close(fd)
        else:
            raise OutputError(f"cannot take the lock {self.path}: it keeps being replaced")
        self.fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())

    def release(self) -> None:
        if self.fd is None:
            return
        from filelock import unlock_descriptor

        with contextlib.suppress(OSError):  # removed while still held, so that no one locks a ghost
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            unlock_descriptor(self.fd)
        os.close(self.fd)
        self.fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode("utf-8", "replace").strip()
    except OSError:  # Windows locks are mandatory: the holder's bytes cannot be read
        text = ""
    return f"held by {text}" if text else "its pid is not known"


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


class OutputFile:
    """The ``-o`` file of one run: checked and locked on creation, opened by :meth:`open`."""

    def __init__(self, given: str | os.PathLike, *, source_fd: int | None = None,
                 inputs: tuple[str | os.PathLike, ...] = ()):
        self.name = str(given)
        # The checks of every output (edgejudge.outputs): not an input, not a link, FIFO or device.
        self.path = outputs.target(given, inputs=(*inputs, *(() if source_fd is None else (source_fd,)))).path
        self.fd: int | None = None
        self.lock = OutputLock(self.path)
        self.lock.acquire()

    def open(self, *, append: bool) -> int:
        """Open for writing (truncated unless ``append``): the moment the earlier output is replaced."""
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0) | (os.O_APPEND if append else os.O_TRUNC)
        try:
            self.fd = os.open(self.path, flags, 0o666)  # the umask decides, as for any file the user makes
        except OSError as exc:
            raise output_error(exc, self.name) from None
        return self.fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
