"""The one reader of the files edgejudge writes for itself and reads back: tuning records, the
prefix cache's headers, store manifests, the hash cache (and, through the same API, calibrations).

Such a file is input like any other: another program, a crash, a full disk or a person may have
put anything there. So :func:`read_state_json`

* opens regular files only: no FIFO (opening one for reading would wait for a writer), no device
  (``/dev/zero`` never ends), no symbolic link as the file itself (``O_NOFOLLOW``), and, given
  ``within``, no folder on the way that leads out of that folder (the store);
* bounds the size before reading (``max_bytes``) and the nesting depth (``max_depth``; Python's
  parser recurses, and a file of 100,000 ``[`` stops it with a RecursionError, caught here);
* parses strict JSON (``NaN`` and ``Infinity`` are not JSON) and checks the value against a shape
  (:mod:`edgejudge.schema`, or any callable that returns the value to use or raises
  :class:`edgejudge.schema.Invalid`);
* never raises for what is in the file: it returns a :class:`StateRead` with either the value or
  the problem, in words, and the caller decides what a bad file means (tuning is measured again,
  a cache entry is a miss, a calibration is not applied). :func:`ignored` writes the one stderr
  line that says so.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgejudge.schema import Invalid

log = logging.getLogger("edgejudge")

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 32

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True)
class StateRead:
    """What :func:`read_state_json` found: ``value`` when the file is valid, ``problem`` (in words,
    without the file's name) when it is not, neither when there is no file (``missing``)."""

    value: Any = None
    problem: str | None = None
    missing: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.missing


def kind_of(mode: int) -> str | None:
    """What a file of this ``st_mode`` is, in words, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


def open_state(path: Path, *, within: Path | None = None) -> int:
    """A descriptor open for reading on ``path`` if it is a regular file (and, given ``within``,
    lies in that folder with no symbolic link on the way out of it). Raises ``FileNotFoundError``
    when nothing is there and :class:`StateProblem` for anything else that is wrong."""
    path = Path(path)
    if within is not None:
        _check_within(path, within)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        if not hasattr(os, "O_NOFOLLOW") and os.path.islink(path):  # Windows: checked, not atomic
            raise StateProblem("is a symbolic link; edgejudge does not follow links to its own files")
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateProblem("is a symbolic link; edgejudge does not follow links to its own files") from None
        raise StateProblem(f"cannot be opened ({exc.strerror or exc})") from None
    try:
        kind = kind_of(os.fstat(fd).st_mode)
        if kind:
            raise StateProblem(f"is {kind}, not a regular file")
        if getattr(os, "O_NONBLOCK", 0):  # opened non-blocking (POSIX): reads of a file block as usual
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class StateProblem(Exception):
    """A state file is unusable; the message says why (without the file's name)."""


def _check_within(path: Path, within: Path) -> None:
    try:
        root = os.path.realpath(within)
        parent = os.path.realpath(path.parent)
    except (OSError, ValueError) as exc:
        raise StateProblem(f"cannot be located ({exc})") from None
    if parent != root and not parent.startswith(root.rstrip(os.sep) + os.sep):
        raise StateProblem(f"lies behind a symbolic link that leads out of {within} (to {parent})")


def read_bounded(fd: int, max_bytes: int) -> bytes:
    """All of an open regular file, refused (:class:`StateProblem`) past ``max_bytes``."""
    size = os.fstat(fd).st_size
    if size > max_bytes:
        raise StateProblem(f"is {size:,} bytes, more than the {max_bytes:,} such a file can be")
    chunks, total = [], 0
    while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - total)):  # it may grow while read
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise StateProblem(f"is more than the {max_bytes:,} bytes such a file can be")
    return b"".join(chunks)


def json_depth(value: Any) -> int:
    """How deeply a parsed JSON value nests arrays and objects (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item if isinstance(child, (list, dict)))
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Strict JSON from bytes, with the nesting bounded; :class:`StateProblem` when it is not."""
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:  # the C parser stops at the interpreter's recursion limit, cleanly
        raise StateProblem(f"nests deeper than {max_depth} levels") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise StateProblem(f"is not valid JSON ({str(exc)[:200]})") from None
    if json_depth(value) > max_depth:
        raise StateProblem(f"nests deeper than {max_depth} levels")
    return value


def read_state_json(path: str | os.PathLike, check: Callable[[Any], Any] | None = None, *,
                    max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH,
                    within: Path | None = None) -> StateRead:
    """Read one JSON state file safely and check it.

    ``check``: a shape from :mod:`edgejudge.schema` (or any callable) that returns the value to
    use or raises :class:`~edgejudge.schema.Invalid`. ``max_bytes`` and ``max_depth`` bound what is
    read and parsed. ``within``: the folder the file must lie in with no link leading out of it.
    Never raises for the file's content or kind: see :class:`StateRead`.
    """
    try:
        fd = open_state(Path(path), within=within)
    except FileNotFoundError:
        return StateRead(missing=True)
    except StateProblem as exc:
        return StateRead(problem=str(exc))
    try:
        value = parse_json(read_bounded(fd, max_bytes), max_depth=max_depth)
        if check is not None:
            value = check(value)
    except StateProblem as exc:
        return StateRead(problem=str(exc))
    except Invalid as exc:
        return StateRead(problem=f"does not have the expected shape ({exc})")
    except OSError as exc:
        return StateRead(problem=f"cannot be read ({exc.strerror or exc})")
    finally:
        os.close(fd)
    return StateRead(value=value)


def ignored(path: str | os.PathLike, problem: str, consequence: str) -> None:
    """The one stderr line for a state file that was ignored: which file, what is wrong with it,
    and what edgejudge does instead."""
    log.warning("ignoring %s: it %s; %s", path, problem, consequence)
