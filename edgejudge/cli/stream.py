"""``edgejudge score`` (JSONL in, JSONL out) and ``edgejudge serve --stdio`` (a co-process)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from edgejudge.cli.options import (
    backend_options,
    judge_options,
    load_judge,
    options_from,
    runtime_options,
)
from edgejudge.cli.trust import trust_options
from edgejudge.errors import Interrupted, PartialFailure, UsageError

BATCH_CTX = 4096  # a batch's first context; it doubles when a longer item comes


class _Stop:
    """SIGTERM: finish the item in hand, then stop."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def _count_lines(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return None


@click.command()
@runtime_options
@backend_options
@judge_options
@trust_options
@click.option("--concurrency", type=click.IntRange(1), default=1, show_default=True,
              help="Items in flight at once (for --backend openai; a local model judges one at a time).")
@click.argument("source", metavar="[IN.jsonl|-]", default="-")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the records to this file instead of stdout.")
@click.option("--resume", is_flag=True, help="With -o: skip the items the output already holds.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first line that fails.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line on stderr.")
def score(source, output, resume, fail_fast, quiet, concurrency, **kwargs):
    """Judge a JSON Lines file (or stdin): one output record per input line, in order.

    \b
    Input:  {"id": 1, "task": "pairwise", "prompt": ..., "response_a": ..., "response_b": ...}
    Output: {"id": 1, "line": 1, "status": "ok", "verdict": "A", ...}
            {"id": 2, "line": 2, "status": "error", "error": {"code": "missing_field", ...}}
    Exit 0 when every line succeeded, 9 when some failed (their records say why).
    """
    from edgejudge.cli.output import ItemProgress, data_writer, warn
    from edgejudge.streams import stream

    if resume and not output:
        raise UsageError("--resume needs -o OUT.jsonl", hint="resume appends to the output file of the earlier run")
    options = options_from(kwargs)
    if source == "-":
        handle = sys.stdin.buffer
        total = None
    else:
        try:
            handle = open(source, "rb")
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror}") from None
        total = _count_lines(source)
    done = stream.completed_ids(Path(output)) if resume else None
    if output:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resume else os.O_TRUNC)
        emit = stream.LineWriter(os.open(Path(output), flags, 0o644))
    else:
        writer = data_writer()
        emit = writer.record
    stop = _Stop()
    with load_judge(kwargs, min_ctx=BATCH_CTX) as judge:
        progress = ItemProgress(total, enabled=None if not quiet else False)
        summary = stream.run(stream.Scorer(judge, options), handle, emit, skip=done, fail_fast=fail_fast,
                             progress=progress, stop=stop, concurrency=concurrency if judge.model is None else 1)
        progress.done()
    if source != "-":
        handle.close()
    counted = summary.ok + summary.failed + summary.abstained
    if not quiet:
        note = f", {summary.skipped} already done" if summary.skipped else ""
        note += f", {summary.abstained} abstained" if summary.abstained else ""
        warn(f"edgejudge: {counted} lines judged in {summary.seconds:.1f} s ({summary.ok} ok, {summary.failed} failed{note})")
    if stop.requested:
        raise Interrupted("stopped by SIGTERM after a whole record; rerun with --resume to finish")
    if summary.failed:
        codes = ", ".join(f"{code} x{n}" for code, n in summary.codes.most_common())
        raise PartialFailure(f"{summary.failed} of {counted} lines failed ({codes})",
                             hint="their records have status \"error\" and say what is wrong")


@click.command()
@runtime_options
@backend_options
@judge_options
@trust_options
@click.option("--stdio", is_flag=True, required=True, help="Serve requests on stdin/stdout (one JSON per line).")
def serve(stdio, **kwargs):
    """Run as a co-process: one JSON request per line on stdin, one response per line on stdout.

    A request is a record as `score` reads it (it may carry "options"); {"op": "ping"} answers
    {"op": "pong"}, {"op": "info"} describes the loaded model. The model is loaded once; a bad
    request gets an error response; EOF or SIGTERM ends the server cleanly (exit 0).
    """
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.streams import stream

    options = options_from(kwargs)
    out = data_writer()
    with load_judge(kwargs, min_ctx=BATCH_CTX) as judge:
        scorer = stream.Scorer(judge, options)
        warn(f"edgejudge: serving {judge.resolved.id}:{judge.resolved.quant} on stdio")

        def stop(signum, frame):
            raise _Shutdown

        signal.signal(signal.SIGTERM, stop)
        line_no = 0
        try:
            for raw in iter(sys.stdin.buffer.readline, b""):
                line_no += 1
                out.record(_answer(scorer, raw.rstrip(b"\r\n"), line_no))
        except _Shutdown:
            pass


class _Shutdown(Exception):
    pass


def _answer(scorer, raw: bytes, line_no: int) -> dict:
    from edgejudge.streams import stream

    value, error = stream.parse_line(raw, line_no)
    if error is None and isinstance(value, dict) and "op" in value:
        op = value["op"]
        if op == "ping":
            return {"op": "pong", "id": value.get("id")}
        if op == "info":
            return {"op": "info", "id": value.get("id"), "tasks": list(scorer.judge.tasks), **scorer.base()}
        return scorer.error(value.get("id", line_no), line_no,
                            {"code": "unknown_op", "message": f"unknown op {op!r} (ping, info, or an item)"})
    if error is not None:
        return scorer.error(line_no, line_no, error)
    return scorer.record_value(value, line_no)


COMMANDS = (score, serve)
