"""JSON Lines in, JSON Lines out: the loop behind ``score``, ``serve --stdio`` and ``score_many``.

Exactly one output record per input line, in input order, each written whole and flushed as soon
as it is made. A bad line (not UTF-8, not JSON, not a valid item, too long for the context) becomes
an ``error`` record with a code and a message, and the run goes on. Every record carries
provenance. ``--resume`` reads what an earlier (possibly killed) run wrote, drops a torn last line,
and skips the items it already holds.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from edgejudge import items
from edgejudge.errors import EdgejudgeError, InputError, UsageError
from edgejudge.formats import JudgeOptions

Record = dict


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    abstained: int = 0  # "status": "abstain" (edgejudge.trust): neither a verdict nor an error
    seconds: float = 0.0
    codes: collections.Counter = field(default_factory=collections.Counter)


def parse_line(raw: bytes, line_no: int) -> tuple[object, dict | None]:
    """The JSON value of one input line, or an error record's ``error`` object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, {"code": "bad_utf8", "message": f"line {line_no} is not UTF-8 (byte {exc.start})"}
    if not text.strip():
        return None, {"code": "empty_line", "message": f"line {line_no} is empty"}
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        return None, {"code": "bad_json", "message": f"line {line_no} is not valid JSON: {exc}"}


def record_id(value: object, line_no: int) -> str | int:
    ident = value.get("id") if isinstance(value, dict) else None
    if isinstance(ident, (str, int)) and not isinstance(ident, bool):
        return ident
    return line_no


class Scorer:
    """Turns input lines into output records with one loaded judge."""

    def __init__(self, judge, options: JudgeOptions):
        self.judge = judge
        self.options = options
        self._base: dict | None = None

    def base(self) -> dict:
        """Model and provenance for records that have no verdict (errors)."""
        if self._base is None:
            provenance = self.judge.provenance(items.Item(task="pairwise"), self.options)
            self._base = {"model": self.judge.resolved.describe(),
                          "provenance": {k: v for k, v in provenance.items() if k not in ("format", "template_sha256")}}
        return self._base

    def record(self, raw: bytes, line_no: int) -> Record:
        """The output record for one input line."""
        value, error = parse_line(raw, line_no)
        if error is not None:
            return self.error(record_id(value, line_no), line_no, error)
        return self.record_value(value, line_no)

    def record_value(self, value: object, line_no: int) -> Record:
        """The output record for one parsed input value (a JSON object, normally)."""
        ident = record_id(value, line_no)
        try:
            item = items.make_item(value)
            if item.id is None:
                item = replace(item, id=line_no)
            result = self.judge.judge(item, self._options_for(value)).to_dict()
        except EdgejudgeError as exc:
            return self.error(ident, line_no, exc.to_record())
        return {"id": result.pop("id"), "line": line_no, "status": result.pop("status", "ok"), **result}

    def _options_for(self, value: dict) -> JudgeOptions:
        """Per-line options (``"options": {"swap": true}``) on top of the run's."""
        overrides = value.get("options")
        if overrides is None:
            return self.options
        allowed = {"explain", "max_explain_tokens", "think", "think_budget", "keep_reasoning", "swap",
                   "tie_on_disagreement", "seed"}
        if not isinstance(overrides, dict) or set(overrides) - allowed:
            raise InputError(f"options must be an object with keys among {', '.join(sorted(allowed))}",
                             code="bad_options")
        try:
            return JudgeOptions(**{**self.options.__dict__, **overrides})
        except TypeError as exc:
            raise InputError(f"bad options: {exc}", code="bad_options") from None

    def error(self, ident, line_no: int, error: dict) -> Record:
        return {"id": ident, "line": line_no, "status": "error", "error": error, **self.base()}


def numbered(source: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Input lines with their 1-based numbers; a final line without a newline counts."""
    for n, raw in enumerate(source, 1):
        yield n, raw.rstrip(b"\r\n") if raw.endswith(b"\n") else raw


def completed_ids(path: Path) -> collections.Counter:
    """Ids already written to ``path`` by an earlier run; a torn last line is cut off first."""
    if not path.exists():
        return collections.Counter()
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    done: collections.Counter = collections.Counter()
    lines = data[:keep].splitlines()
    for n, line in enumerate(lines, 1):
        try:
            record = orjson.loads(line)
            done[_key(record["id"])] += 1
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UsageError(f"{path} line {n} is not a record edgejudge wrote; cannot resume from it",
                             hint="resume only into an output file of an earlier edgejudge score run") from None
    if keep < len(data):
        with open(path, "r+b") as handle:  # the torn line of a killed run
            handle.truncate(keep)
    return done


def _key(ident) -> str:
    return orjson.dumps(ident).decode()


def ordered(tasks: Iterable[tuple[int, Callable[[], Record]]], concurrency: int) -> Iterator[Record]:
    """Run ``(line, work)`` tasks with up to ``concurrency`` in flight; yield results in order."""
    if concurrency <= 1:
        for _, work in tasks:
            yield work()
        return
    window: collections.deque = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="edgejudge") as pool:
        for _, work in tasks:
            window.append(pool.submit(work))
            if len(window) >= 2 * concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def run(scorer: Scorer, source: Iterable[bytes], emit: Callable[[Record], None], *, skip: collections.Counter | None = None,
        fail_fast: bool = False, progress: Callable[[Summary], None] | None = None,
        stop: Callable[[], bool] = lambda: False, concurrency: int = 1) -> Summary:
    """Score every line of ``source``, passing each record to ``emit`` in input order."""
    summary = Summary()
    skip = collections.Counter(skip or {})
    started = time.perf_counter()
    halted = {"now": False}

    def tasks():
        for line_no, raw in numbered(source):
            if stop() or halted["now"]:
                return
            if skip:
                value, _ = parse_line(raw, line_no)
                key = _key(record_id(value, line_no))
                if skip[key] > 0:
                    skip[key] -= 1
                    summary.skipped += 1
                    continue
            yield line_no, (lambda raw=raw, line_no=line_no: scorer.record(raw, line_no))

    for record in ordered(tasks(), concurrency):
        if halted["now"]:
            continue  # --fail-fast: items already in flight finish, but are not written
        emit(record)
        if record["status"] == "ok":
            summary.ok += 1
        elif record["status"] == "abstain":
            summary.abstained += 1
        else:
            summary.failed += 1
            summary.codes[record["error"]["code"]] += 1
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary)
        if fail_fast and record["status"] == "error":
            halted["now"] = True
    summary.seconds = time.perf_counter() - started
    return summary


class LineWriter:
    """Appends records to a file descriptor, one whole line per write, flushed to the kernel."""

    def __init__(self, fd: int):
        self.fd = fd

    def __call__(self, record: Record) -> None:
        data = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
