"""JSON Lines in, JSON Lines out: the loop behind ``score``, ``serve --stdio`` and ``score_many``.

Exactly one output record per input line, in input order, each written whole and flushed as soon
as it is made. A bad line (not UTF-8, not JSON, not a valid item, too long for the context) becomes
an ``error`` record with a code and a message, and the run goes on; so does a line longer than
the model could ever read (:func:`line_limit`), which is skipped unread, and a line that meets a
bug (code ``internal_error``). Every record carries provenance. ``--resume`` reads what an
earlier (possibly killed) run wrote (:mod:`edgejudge.streams.resume`) and skips the items it
already holds.
"""

from __future__ import annotations

import collections
import concurrent.futures
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from edgejudge import items, json_errors
from edgejudge.errors import EdgejudgeError
from edgejudge.formats import JudgeOptions, option_rules
from edgejudge.streams import grouping, outfile
from edgejudge.streams.reader import Oversized, bounded, read_lines
from edgejudge.streams.resume import key as _key
from edgejudge.streams.signals import StopNow, no_guard

Record = dict
# A token is a few bytes of text; JSON escapes (\uXXXX pairs) and long whitespace tokens make more.
# 64 bytes per token of the model's training context is far above what any line that fits could
# need, and far below what a runaway line costs.
LINE_BYTES_PER_TOKEN = 64
MIN_LINE_BYTES = 1 << 20
DEFAULT_CONTEXT = 131072  # a remote judge with no registry entry: the largest context in use


def line_limit(judge) -> tuple[int, str]:
    """The most bytes one input line may have for ``judge``, and how that number was made."""
    model = getattr(judge, "model", None)
    spec = getattr(getattr(judge, "resolved", None), "spec", None)
    if model is not None and getattr(model, "n_ctx_train", 0) > 0:
        tokens, source = model.n_ctx_train, "training context"
    elif spec is not None:
        tokens, source = spec.context_length, "context"
    else:
        tokens, source = DEFAULT_CONTEXT, "assumed context"
    limit = max(tokens * LINE_BYTES_PER_TOKEN, MIN_LINE_BYTES)
    return limit, f"the model's {tokens:,}-token {source} x {LINE_BYTES_PER_TOKEN} bytes per token"


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
        return None, {"code": "bad_json", "message": f"line {line_no} is not valid JSON, {json_errors.describe(exc, text)}"}


def record_id(value: object, line_no: int) -> str | int:
    ident = value.get("id") if isinstance(value, dict) else None
    if isinstance(ident, (str, int)) and not isinstance(ident, bool):
        return ident
    return line_no


class Scorer:
    """Turns input lines into output records with one loaded judge."""

    def __init__(self, judge, options: JudgeOptions, *, max_line_bytes: int | None = None):
        self.judge = judge
        self.options = options
        self._base: dict | None = None
        self.max_line_bytes, self._limit_reason = line_limit(judge)
        if max_line_bytes is not None:
            self.max_line_bytes, self._limit_reason = max_line_bytes, "the limit given"

    def base(self) -> dict:
        """Model and provenance for records that have no verdict (errors)."""
        if self._base is None:
            provenance = self.judge.provenance(items.Item(task="pairwise"), self.options)
            self._base = {"model": self.judge.resolved.describe(),
                          "provenance": {k: v for k, v in provenance.items() if k not in ("format", "template_sha256")}}
        return self._base

    def record(self, raw: bytes | Oversized, line_no: int) -> Record:
        """The output record for one input line (bytes, or a line skipped for its size)."""
        if not isinstance(raw, Oversized) and len(raw) > self.max_line_bytes:
            raw = Oversized(len(raw))
        if isinstance(raw, Oversized):
            return self.error(line_no, line_no, self.too_long(raw, line_no))
        value, error = parse_line(raw, line_no)
        if error is not None:
            return self.error(record_id(value, line_no), line_no, error)
        return self.record_value(value, line_no)

    def record_value(self, value: Any, line_no: int) -> Record:
        """The output record for one parsed input value (a JSON object, normally)."""
        ident = record_id(value, line_no)
        try:
            item = items.make_item(value)
            if item.id is None:
                item = replace(item, id=line_no)
            result = self.judge.judge(item, self._options_for(value)).to_dict()
        except EdgejudgeError as exc:
            return self.error(ident, line_no, exc.to_record())
        except Exception as exc:  # noqa: BLE001 - a bug on one line must not end the run; the CLI exits 1
            return self.error(ident, line_no, {
                "code": "internal_error", "message": f"internal error: {type(exc).__name__}: {exc}",
                "hint": "this is a bug; please report it with this line"})
        return {"id": result.pop("id"), "line": line_no, "status": result.pop("status", "ok"), **result}

    def _options_for(self, value: dict) -> JudgeOptions:
        """Per-line options (``"options": {"swap": true}``) on top of the run's, validated like flags."""
        return option_rules.line_options(self.options, value)

    def too_long(self, raw: Oversized, line_no: int) -> dict:
        return {"code": "line_too_long",
                "message": f"line {line_no} is {raw.size:,} bytes, over the limit of {self.max_line_bytes:,} bytes "
                           f"({self._limit_reason}); it was skipped unread",
                "hint": "no line this long fits in the model's context; shorten the texts"}

    def error(self, ident, line_no: int, error: dict) -> Record:
        return {"id": ident, "line": line_no, "status": "error", "error": error, **self.base()}


def numbered(source: Iterable[bytes | Oversized]) -> Iterator[tuple[int, bytes | Oversized]]:
    """Input lines with their 1-based numbers; a final line without a newline counts."""
    for n, raw in enumerate(source, 1):
        yield n, raw.rstrip(b"\r\n") if isinstance(raw, bytes) and raw.endswith(b"\n") else raw


def ordered(tasks: Iterable[tuple], concurrency: int) -> Iterator[Record]:
    """Run ``(line, work)`` tasks with up to ``concurrency`` in flight; yield results in order."""
    if concurrency <= 1:
        for _, work, *_ in tasks:
            yield work()
        return
    window: collections.deque = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="edgejudge") as pool:
        for _, work, *_ in tasks:
            window.append(pool.submit(work))
            if len(window) >= 2 * concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def run(scorer: Scorer, source, emit: Callable[[Record], None], *, skip: collections.Counter | None = None,
        fail_fast: bool = False, progress: Callable[[Summary], None] | None = None,
        stop: Callable[[], bool] = lambda: False, concurrency: int = 1,
        interruptible: Callable = no_guard, window: int = 1) -> Summary:
    """Score every line of ``source`` (a binary stream, or lines of bytes), passing each record to
    ``emit`` in input order. A stream is read once, line by line, with bounded memory;
    ``interruptible`` wraps each blocking read (a signal there ends the input: :class:`StopNow`).
    ``window`` > 1 evaluates items that share a prompt together within that many lines
    (``grouping``); records are still emitted in input order."""
    summary = Summary()
    skip = collections.Counter(skip or {})
    started = time.perf_counter()
    halted = {"now": False}
    if hasattr(source, "readline"):
        lines = read_lines(source, scorer.max_line_bytes, interruptible)
    else:
        lines = bounded(source, scorer.max_line_bytes)

    def tasks():
        try:
            for line_no, raw in numbered(lines):
                if stop() or halted["now"]:
                    return
                if skip:
                    value = None if isinstance(raw, Oversized) else parse_line(raw, line_no)[0]
                    ident = _key(record_id(value, line_no))
                    if skip[ident] > 0:
                        skip[ident] -= 1
                        summary.skipped += 1
                        continue
                yield line_no, (lambda raw=raw, line_no=line_no: scorer.record(raw, line_no)), raw
        except StopNow:
            return  # a signal while waiting for input: what is in flight is finished and written

    if window > 1 and concurrency <= 1:
        results = grouping.grouped(tasks(), lambda task: grouping.key_of_line(task[2]), window,
                                   stop=lambda: stop() or halted["now"])
    else:
        results = ordered(tasks(), concurrency)
    for record in results:
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
    """Appends records to a file descriptor, each whole (short writes are continued) and flushed to
    the kernel; ``guard`` (:meth:`StopSignals.writing`) keeps a signal from cutting one."""

    def __init__(self, fd: int, name: str = "the output", guard: Callable = no_guard):
        self.fd = fd
        self.name = name
        self.guard = guard

    def __call__(self, record: Record) -> None:
        data = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        with self.guard():
            outfile.write_all(self.fd, data, self.name)
