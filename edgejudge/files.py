"""Files written so that a reader, a crash or a second writer never sees half of one; outputs that are
not regular files refused; inputs opened only when they are regular files."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from edgejudge.errors import ModelFileError


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output(path: Path, *, option: str = "-o") -> int:
    """Refuse an output path that is not a regular file, and return the mode the output gets.

    Outputs are written beside the path and renamed over it, and a rename replaces whatever is
    there: a symlink would become a regular file (its target untouched), a device node such as
    /dev/null would be replaced outright when running as root. So only a missing path or a regular
    file is accepted. The mode is what a plain ``open`` would give: an existing file keeps its own,
    a new one gets 0666 less the umask (``mkstemp`` alone would leave 0600).
    """
    import stat

    from edgejudge.errors import UsageError

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot be inspected ({exc.strerror})",
                         hint="give a path in a directory you can write to") from None
    kind = None
    if stat.S_ISLNK(st.st_mode):
        kind = "a symbolic link (writing would replace the link, not its target)"
    elif stat.S_ISDIR(st.st_mode):
        kind = "a directory"
    elif not stat.S_ISREG(st.st_mode):
        kind = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
                stat.S_IFSOCK: "a socket"}.get(stat.S_IFMT(st.st_mode), "not a regular file")
    if kind:
        raise UsageError(f"{option} {path} is {kind}; edgejudge writes model files only to a new or regular file",
                         hint="give the path of the file to create (for a link, its target: realpath PATH)")
    return stat.S_IMODE(st.st_mode)


def temp_beside(path: Path, *, suffix: str = ".part", option: str = "-o") -> Path:
    """A new empty file beside ``path`` (checked by :func:`check_output`) with the mode ``path``
    will have, to be written and then renamed over ``path``."""
    from edgejudge.errors import UsageError

    mode = check_output(path, option=option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create a file in {path.parent} ({exc.strerror})",
                         hint="give a path in a directory you can write to") from None
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(tmp)


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


def decode_text(data: bytes, name: str) -> str:
    """``data`` (the contents of the file ``name``) as text, or an InputError naming the byte at
    fault: UTF-8 only, and no NUL (a binary file)."""
    from edgejudge.errors import InputError

    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not 0 <= nul < exc.start:  # else the NUL comes first and is what is reported
            raise InputError(f"{name} is not UTF-8 text: byte {exc.start} is {data[exc.start:exc.start + 1]!r}",
                             hint="give a UTF-8 text file (convert it with iconv -t UTF-8)", code="not_utf8") from None
        text = ""
    if nul >= 0:
        raise InputError(f"{name} is a binary file (a NUL byte at byte {nul}), not text",
                         hint="give the judge's output as a UTF-8 text file", code="not_text")
    return text


def open_regular(path: Path):
    """Open ``path`` for reading only if it is a regular file: a FIFO, a device or a socket is
    refused before anything reads from it (opening a FIFO for reading would wait for a writer)."""
    nonblock = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs to wait on
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"{path} is not a regular file (a FIFO, a device or a socket)",
                                 hint="give the path of a .gguf file; a model cannot be streamed through a pipe")
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
