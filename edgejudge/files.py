"""Files written so that a reader, a crash or a second writer never sees half of one; inputs opened
only when they are regular files. (The outputs a user names go through ``edgejudge.outputs``.)"""

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
