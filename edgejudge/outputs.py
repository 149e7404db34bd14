"""The one guarded writer for every file a command writes at a path the user names.

``score -o``, ``eval -o`` and ``--report``, ``export -o`` (and its manifest), ``convert -o`` and
``quantize -o`` all go through :func:`target`, before any work, and then write through the
:class:`Target` it returns. The calibration store, or any other library code that replaces a file,
may use :func:`write_file` for the same guards in one call.

What :func:`target` refuses (a :class:`~edgejudge.errors.UsageError`, exit 2, nothing touched):

* a path that *is* one of the command's inputs: the same file by name, through a hard link, or
  a symbolic link to it (``eval gold.jsonl -o gold.jsonl`` would replace the gold labels);
* a symbolic link, even to a file that is not an input: a rename would replace the link itself,
  and writing through it would write a file the user did not name;
* a directory, a FIFO (opening one waits for a reader: a hang), a character or block device
  (``/dev/null`` replaced by a regular file when run as root), a socket;
* a path whose directory does not exist (it is not created: a typo in a folder name should not
  leave a new folder behind); the same path named by two outputs of one command.

A directory that cannot be written (read-only file system, permissions) is an
:class:`~edgejudge.errors.OutputError` (exit 14), also before any work.

Writes are atomic: the data goes to a new file beside the target (``.NAME.XXXX.part``, with the
mode the target has, or 0666 less the umask for a new file), is flushed to disk, and is renamed
over the target only when complete, after the target is checked once more. A full disk, a crash
or a signal leave the old file as it was and no temporary file behind (a ``kill -9`` can leave
the temporary file, never a torn target). ``score -o`` is the one output written in place, record
by record, so that ``--resume`` can continue a killed run (:mod:`edgejudge.streams.outfile`); it
takes the same checks from here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgejudge.errors import OutputError, UsageError

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
Input = str | os.PathLike | int  # a path, or an open file descriptor (stdin redirected from a file)


def output_error(exc: OSError, name: str, *, atomic: bool = False) -> OutputError:
    """An :class:`OutputError` that says what an ``OSError`` while writing ``name`` means
    (``atomic``: a file replaced whole, so nothing at the path changed)."""
    if exc.errno == errno.EPIPE or isinstance(exc, BrokenPipeError):
        return OutputError(f"{name} was closed by its reader (broken pipe)", code="broken_pipe",
                           hint="the records written before are whole; keep the reader open to the end, "
                                "or write to a file with -o")
    if exc.errno == errno.EBADF:
        return OutputError(f"{name} is closed", code="output_closed",
                           hint="run with stdout open, or write the records to a file with -o")
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return OutputError(f"no space left on the device while writing {name}", code="disk_full",
                           hint="free some space and run again (what was at the path is unchanged)" if atomic else
                                "free some space; with -o, rerun with --resume to finish (a torn last "
                                "record is dropped)")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return OutputError(f"cannot write {name}: {exc.strerror}", code="not_writable",
                           hint="write somewhere you may write (check the directory's permissions)")
    return OutputError(f"cannot write {name}: {exc.strerror or exc}", code="output")


def kind_of(mode: int) -> str | None:
    """What a file of ``mode`` (from ``lstat``) is, when it is not a regular file; else None."""
    if stat.S_ISREG(mode):
        return None
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


@dataclass(frozen=True)
class Target:
    """A checked output path: ``path`` is absolute, with the directory's symlinks resolved."""

    given: str
    path: Path
    what: str

    @property
    def name(self) -> str:
        return f"{self.what} {self.given}" if self.what else self.given

    def mode(self) -> int:
        """The mode the written file gets: the existing file's own, else 0666 less the umask."""
        try:
            return stat.S_IMODE(os.stat(self.path).st_mode)
        except OSError:
            return 0o666 & ~_umask()

    def recheck(self, inputs: Iterable[Input] = ()) -> None:
        """Check again just before the rename: what is at the path may have changed since."""
        _check_existing(self, _identities(inputs))

    @contextlib.contextmanager
    def replacing(self, *, suffix: str = ".part", inputs: Iterable[Input] = ()) -> Iterator[Path]:
        """A new empty file beside the target, to be written by the caller (or by a library that
        takes a path); renamed over the target when the block ends without an exception, removed
        when it raises."""
        try:
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=suffix)
        except OSError as exc:
            raise output_error(exc, f"{self.name} (a file in {self.path.parent})", atomic=True) from None
        tmp = Path(name)
        try:
            with contextlib.suppress(OSError):  # a file system without modes (FAT) keeps its own
                os.fchmod(fd, self.mode())
            os.close(fd)
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            self.recheck(inputs)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise output_error(exc, self.name, atomic=True) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _sync_dir(self.path.parent)

    def write(self, data: bytes, *, inputs: Iterable[Input] = ()) -> None:
        """Replace the target with ``data``, atomically."""
        with self.replacing(inputs=inputs) as tmp:
            fd = os.open(tmp, os.O_WRONLY | getattr(os, "O_BINARY", 0))
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[written:]
            finally:
                os.close(fd)


def target(path: str | os.PathLike, *, what: str = "-o", inputs: Iterable[Input] = (),
           others: Iterable[Target] = ()) -> Target:
    """Check ``path`` as an output of a command whose inputs are ``inputs`` (paths or open file
    descriptors) and whose other outputs are ``others``; raise before any work if it is refused
    (see the module docstring)."""
    given = os.fspath(path)
    label = f"{what} {given}" if what else given
    if not given:
        raise UsageError(f"{what or 'the output'}: the path is empty", hint="give the path of the file to write")
    raw = Path(given)
    try:
        parent = Path(os.path.realpath(raw.parent if str(raw.parent) else "."))
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop in the directories
        raise UsageError(f"{label}: its directory cannot be resolved ({exc})") from None
    if raw.name in ("", ".", ".."):
        raise UsageError(f"{label} is a directory", hint="give the path of the file to write, not a folder")
    found = Target(given, parent / raw.name, what)
    _check_existing(found, _identities(inputs))
    for other in others:
        if other.path == found.path:
            raise UsageError(f"{label} and {other.name} are the same file",
                             hint="give each output its own path")
    if not parent.is_dir():
        raise UsageError(f"{label}: the directory {raw.parent} does not exist",
                         hint="create it first (mkdir -p), or write somewhere else")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise output_error(OSError(errno.EROFS if _read_only(parent) else errno.EACCES,
                                   "Read-only file system" if _read_only(parent) else "Permission denied"),
                           f"{label} (in {raw.parent})")
    return found


def full_disk(where: Path, needed: int) -> bool:
    """Whether the file system of ``where`` has less than ``needed`` bytes free: for writers inside
    a library that reports a full disk only as a failure (llama.cpp's quantizer)."""
    try:
        return os.statvfs(where).f_bavail * os.statvfs(where).f_frsize < needed
    except (OSError, AttributeError):
        return False


def write_file(path: str | os.PathLike, data: bytes, *, what: str = "", inputs: Iterable[Input] = ()) -> Path:
    """Check ``path`` (as :func:`target`) and replace it with ``data`` atomically; its real path."""
    found = target(path, what=what, inputs=inputs)
    found.write(data, inputs=inputs)
    return found.path


def _identities(inputs: Iterable[Input]) -> list[tuple[tuple[int, int], str]]:
    """(device, inode) and a name for each input that exists (a missing one cannot be overwritten)."""
    out = []
    for given in inputs:
        if given is None:
            continue
        try:
            info = os.fstat(given) if isinstance(given, int) else os.stat(given)
        except (OSError, ValueError):
            continue
        name = "the file standard input reads" if isinstance(given, int) else os.fspath(given)
        out.append(((info.st_dev, info.st_ino), name))
    return out


def _check_existing(found: Target, inputs: list[tuple[tuple[int, int], str]]) -> None:
    try:
        info = os.lstat(found.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{found.name}: cannot be inspected ({exc.strerror})",
                         hint="give a path in a directory you can write to") from None
    followed = info
    if stat.S_ISLNK(info.st_mode):
        with contextlib.suppress(OSError):
            followed = os.stat(found.path)
    for identity, name in inputs:
        if (followed.st_dev, followed.st_ino) == identity:
            how = ("through a symbolic link" if stat.S_ISLNK(info.st_mode)
                   else "" if os.path.realpath(name) == str(found.path) else "through a hard link")
            raise UsageError(f"{found.name} is the input file itself{' (' + how + ')' if how else ''}: "
                             f"{name}; writing it would destroy the input",
                             hint="write the output to another file")
    kind = kind_of(info.st_mode)
    if kind is None:
        return
    if stat.S_ISLNK(info.st_mode):
        try:
            where = os.readlink(found.path)
        except OSError:
            where = "?"
        raise UsageError(f"{found.name} is a symbolic link (to {where}); edgejudge writes only to a new or "
                         "regular file, never through a link",
                         hint="give the path of the file itself (realpath PATH), or remove the link")
    raise UsageError(f"{found.name} is {kind}, not a regular file",
                     hint="give the path of a new or regular file to write")


def _read_only(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & getattr(os, "ST_RDONLY", 1))
    except (OSError, AttributeError):
        return False


def _sync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk; not every platform can say.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    # /proc gives the umask without changing it; elsewhere set-and-restore is the only way.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
