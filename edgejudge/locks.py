"""Lock files that never follow a link: the store's per-model locks and ``OUT.lock`` beside outputs.

A lock file is opened for writing (the holder writes its pid there) and created when missing. A
plain ``open`` follows a symbolic link at that path: a link to a user's file would get that file
truncated and overwritten, and a dangling link would create a file wherever it points. So the
lock file is opened with ``O_NOFOLLOW`` (a link is refused, not followed) and ``O_NONBLOCK`` (a
FIFO is never waited on), then checked with ``fstat`` to be a regular file. Anything else at the
path is an :class:`OutputError` (exit 14) that names it; edgejudge leaves it as it is.

The lock itself is the operating system's (``flock`` on POSIX, ``LockFileEx`` on Windows, through
``filelock``'s descriptor functions): the kernel drops it when its process dies, even by kill -9.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from edgejudge.errors import OutputError
from edgejudge.state_files import kind_of

_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
    | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _refused(path: Path, what: str) -> OutputError:
    return OutputError(f"the lock file {path} is {what}; edgejudge neither follows nor replaces it",
                       code="bad_lock", hint=f"remove it if you know what it is (rm {path}), or write elsewhere")


def open_lock_file(path: Path) -> int:
    """A descriptor open for reading and writing on the lock file ``path`` (created when missing),
    or an :class:`OutputError` (exit 14) when ``path`` is a link, a directory, a FIFO or a device.
    Other failures to open it are ``OSError`` for the caller to explain."""
    path = Path(path)
    if not hasattr(os, "O_NOFOLLOW") and os.path.islink(path):  # Windows: checked, not atomic
        raise _refused(path, "a symbolic link")
    try:
        fd = os.open(path, _FLAGS, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(path, "a symbolic link") from None
        if exc.errno == errno.EISDIR:
            raise _refused(path, "a directory") from None
        if exc.errno == errno.ENXIO:  # a FIFO or socket that cannot be opened this way
            raise _refused(path, "a FIFO or a socket") from None
        raise
    try:
        kind = kind_of(os.fstat(fd).st_mode)
        if kind:
            raise _refused(path, kind)
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def held(path: Path):
    """Hold an exclusive lock on ``path`` (waiting for it), opened by :func:`open_lock_file`."""
    from filelock import lock_descriptor, unlock_descriptor

    fd = open_lock_file(path)
    try:
        lock_descriptor(fd, blocking=True)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield fd
    finally:
        with contextlib.suppress(OSError):
            unlock_descriptor(fd)
        os.close(fd)
