"""Names and paths in the model store: ids and quants checked whole, every path checked to stay
inside the store (no symbolic link is followed out of it), write failures as StoreError, and
opening only regular files (a FIFO or a device is refused before anything reads from it)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from edgejudge.errors import StoreError, UsageError
from edgejudge.store import disk, registry


def check_name(model_id: str, quant: str | None = None) -> None:
    if not registry.valid_id(model_id):
        raise UsageError(f"{shown(model_id)} is not a valid model id",
                         hint="ids are 1 to 64 lower-case letters, digits, '.', '_' and '-' (no slashes), e.g. my-judge")
    if quant is not None and not registry.valid_quant(quant):
        raise UsageError(f"{shown(quant)} is not a valid quant name",
                         hint="1 to 16 letters, digits and '_', e.g. Q4_K_M, Q8_0, BF16")


def shown(text) -> str:
    """A name for a message: quoted, with control characters escaped, and cut to a readable length."""
    text = repr(text)
    return text if len(text) <= 80 else text[:60] + f"…' ({len(text):,} characters)"


def inside(path: Path) -> Path:
    """``path``, built on :func:`disk.store_root`, checked to be where it says: no symbolic link on
    the way leads out of (or around) the store. Raises :class:`StoreError`."""
    path = Path(path)
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise StoreError(f"{path} cannot be used: {exc}", hint="check the model store for odd links") from None
    if real != path:
        raise StoreError(f"{path} is a symbolic link (or lies behind one) to {real}; edgejudge does not follow "
                         "links in its model store",
                         hint=f"remove the link, or move the files into {disk.store_root()}")
    return path


@contextlib.contextmanager
def writing(where: Path):
    """Turn a failure to write in the store (read-only, full, not a directory) into a StoreError."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot write to the model store at {where}: {exc.strerror or exc}",
                         hint="check that EDGEJUDGE_HOME is a directory you can write to, with free space") from None


def plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not name.startswith(".") and \
        not any(c in name for c in "/\\\0") and name.isprintable() and len(name.encode()) <= 255
