"""``--resume``: what an earlier run's output already holds, and what must be judged again.

The earlier output is read (never written) before the model loads, into a :class:`Earlier`:

* a torn last line (a run killed mid-write) is dropped;
* a record whose ``(id, line)`` pair came before is a duplicate (two runs wrote to one output at
  once, before outputs were locked): the first is kept, the others are dropped;
* an error record is judged again when its code is transient (``backend``,
  ``backend_unavailable``, ``timeout``), or any error with ``retry_errors``; it is dropped, and
  the new record is appended at the end (its ``line`` field keeps the input order);
* every other record (any status of ``judging.verdict.STATUSES``: ``ok``, ``abstain``, an error
  kept) is done: its id is skipped in the input.

Only when the run really starts does :meth:`Earlier.apply` write the repaired file: a cut for a
torn line alone, else a rewrite into a temporary file renamed over the output, so a crash leaves
the old output or the new one, never a mix.
"""

from __future__ import annotations

import collections
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from edgejudge.errors import UsageError
from edgejudge.judging.verdict import STATUSES

TRANSIENT = frozenset({"backend", "backend_unavailable", "timeout"})


def key(ident) -> str:
    """The id of a record as a string, so that 1 and "1" stay different."""
    return orjson.dumps(ident).decode()


@dataclass
class Earlier:
    """What an earlier run's output holds (see the module docstring)."""

    path: Path
    done: collections.Counter = field(default_factory=collections.Counter)
    kept: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) of the lines kept
    size: int = 0  # bytes of whole lines
    torn: bool = False
    duplicates: int = 0
    retried: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)  # codes of error records kept

    @property
    def rewrite(self) -> bool:
        return bool(self.duplicates or self.retried)

    def apply(self) -> None:
        """Bring the file to the kept records: call only once the run has started."""
        try:
            if self.rewrite:
                _rewrite(self.path, self.kept)
            elif self.torn:
                with open(self.path, "r+b") as handle:
                    handle.truncate(self.size)
        except OSError as exc:
            from edgejudge.streams.outfile import output_error

            raise output_error(exc, str(self.path)) from None


def read(path: Path, *, retry_errors: bool = False) -> Earlier:
    """Read the output of an earlier run (nothing is changed; see :meth:`Earlier.apply`)."""
    earlier = Earlier(path)
    if not path.exists():
        return earlier
    seen: set[tuple[str, int]] = set()
    offset = 0
    with open(path, "rb") as handle:
        for n, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                earlier.torn = True
                break
            record = _record(line, n, path)
            pair = (key(record["id"]), record["line"])
            if pair in seen:
                earlier.duplicates += 1
            elif record["status"] == "error" and (retry_errors or _code(record) in TRANSIENT):
                earlier.retried += 1
            else:
                seen.add(pair)
                earlier.done[pair[0]] += 1
                earlier.kept.append((offset, len(line)))
                if record["status"] == "error":
                    earlier.errors[_code(record)] += 1
            offset += len(line)
    earlier.size = offset
    return earlier


def _record(line: bytes, n: int, path: Path) -> dict:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        record = None
    if (not isinstance(record, dict) or "id" not in record or record.get("status") not in STATUSES
            or not isinstance(record.get("line"), int) or isinstance(record.get("line"), bool)):
        raise UsageError(f"{path} line {n} is not a record edgejudge wrote; cannot resume from it",
                         hint="resume only into the output file of an earlier edgejudge score run") from None
    return record


def _code(record: dict) -> str:
    error = record.get("error")
    return str(error.get("code")) if isinstance(error, dict) else "unknown"


def _rewrite(path: Path, kept: list[tuple[int, int]]) -> None:
    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
            for offset, length in kept:
                source.seek(offset)
                out.write(source.read(length))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
