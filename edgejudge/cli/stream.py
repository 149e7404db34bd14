"""``edgejudge score`` (JSONL in, JSONL out) and ``edgejudge serve --stdio`` (a co-process)."""

from __future__ import annotations

import collections
import os
import sys

import click

from edgejudge.cli.options import (
    backend_options,
    judge_options,
    load_judge,
    options_from,
    runtime_options,
    trust_options,
    workload_of,
)
from edgejudge.errors import EdgejudgeError, Interrupted, PartialFailure, UsageError

BATCH_CTX = 4096  # a batch's first context; it doubles when a longer item comes


def _default_window(handle) -> int:
    """Group within a window when reading a file; a pipe's writer may wait for each record."""
    import stat

    from edgejudge.streams import grouping

    try:
        regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
    except (OSError, AttributeError, ValueError):
        regular = False
    return grouping.DEFAULT_WINDOW if regular else 1


@click.command()
@runtime_options
@backend_options
@judge_options
@trust_options
@click.option("--concurrency", type=click.IntRange(1), default=1, show_default=True,
              help="Items in flight at once (for --backend openai; a local model judges one at a time).")
@click.argument("source", metavar="[IN.jsonl|-]", default="-")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the records to this file instead of stdout (replaced only once the model is loaded).")
@click.option("--resume", is_flag=True, help="With -o: skip the items the output already holds (errors with a "
              "transient code, backend or timeout, are judged again).")
@click.option("--retry-errors", is_flag=True, help="With --resume: judge every error record's item again.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first line that fails.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line on stderr.")
@click.option("--progress/--no-progress", default=None,
              help="The progress line on stderr: items done, rate, ETA, the current item's leaning "
                   "(default: when stderr is a terminal and not --quiet).")
@click.option("--group-window", type=click.IntRange(1), default=None, metavar="N",
              help="Evaluate items that share a prompt together within N lines; records stay in input "
                   "order (default: 1024 for a file, 1 for a pipe).")
def score(source, output, resume, retry_errors, fail_fast, quiet, progress, concurrency, group_window, **kwargs):
    """Judge a JSON Lines file (or stdin): one output record per input line, in order.

    \b
    Input:  {"id": 1, "task": "pairwise", "prompt": ..., "response_a": ..., "response_b": ...}
    Output: {"id": 1, "line": 1, "status": "ok", "verdict": "A", ...}
            {"id": 2, "line": 2, "status": "error", "error": {"code": "missing_field", ...}}
    Exit 0 when every record is ok, 9 when some are errors (their records say why), 130 when
    stopped by SIGTERM or Ctrl-C (after a whole record; rerun with --resume to finish).
    """
    from edgejudge.streams.signals import StopNow, StopSignals

    if resume and not output:
        raise UsageError("--resume needs -o OUT.jsonl", hint="resume appends to the output file of the earlier run")
    if retry_errors and not resume:
        raise UsageError("--retry-errors needs --resume", hint="it says which records of the earlier run to redo")
    options = options_from(kwargs)
    with StopSignals() as signals:  # from the start: a signal while loading ends the run, not the process
        try:
            _score(source, output, resume, retry_errors, fail_fast, quiet, concurrency, group_window, options, kwargs,
                   signals, progress)
        except StopNow:
            raise Interrupted(f"stopped by {signals.name} before another record was written",
                              hint="rerun with -o OUT --resume to finish" if output else None) from None


def _score(source, output, resume, retry_errors, fail_fast, quiet, concurrency, group_window, options, kwargs,
           signals, show=None):
    from edgejudge.cli.output import ItemProgress, data_writer, warn
    from edgejudge.streams import outfile, reader, stream
    from edgejudge.streams import resume as resuming

    if source == "-":
        handle = sys.stdin.buffer
    else:
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below, after the run
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    target = outfile.OutputFile(output, source_fd=_fileno(handle)) if output else None
    try:
        earlier = resuming.read(target.path, retry_errors=retry_errors) if resume else None
        with signals.interruptible():
            judge = load_judge(kwargs, min_ctx=BATCH_CTX, workload=workload_of(options))
        with judge:
            with signals.interruptible():
                pass  # a signal during the load stops here, before the output is touched
            if target is not None:
                if earlier is not None:
                    earlier.apply()
                emit = stream.LineWriter(target.open(append=resume), output, signals.writing)
            else:
                writer = data_writer()

                def emit(record):
                    with signals.writing():
                        writer.record(record)
            if show is None:
                show = False if quiet else sys.stderr.isatty()
            progress = ItemProgress(reader.count_lines(handle) if show else None, enabled=show)
            if show:
                judge.engine.watch = progress.think
            summary = stream.run(stream.Scorer(judge, options), handle, emit, skip=earlier and earlier.done,
                                 fail_fast=fail_fast, progress=progress, stop=signals,
                                 concurrency=concurrency if judge.model is None else 1,
                                 interruptible=signals.interruptible,
                                 window=group_window or _default_window(handle))
            progress.done()
    finally:
        if target is not None:
            target.close()
        if source != "-":
            handle.close()
    _report(summary, earlier, output, quiet, signals, warn)


def _fileno(handle) -> int | None:
    try:
        return handle.fileno()
    except (OSError, ValueError, AttributeError):  # a test harness's in-memory stdin
        return None


def _report(summary, earlier, output, quiet, signals, warn) -> None:
    """The summary line on stderr, and the exit code: 130 stopped, 1 a bug met, 9 errors in the output."""
    counted = summary.ok + summary.failed + summary.abstained
    kept = sum(earlier.errors.values()) if earlier is not None else 0
    errors = summary.failed + kept
    if not quiet:
        notes = []
        if summary.skipped:
            notes.append(f"{summary.skipped} already done")
        if summary.abstained:
            notes.append(f"{summary.abstained} abstained")
        if earlier is not None and earlier.retried:
            notes.append(f"{earlier.retried} earlier errors retried")
        if earlier is not None and earlier.duplicates:
            notes.append(f"{earlier.duplicates} duplicated records removed")
        note = "".join(f", {n}" for n in notes)
        where = f"; {output} holds {errors} error records" if output and earlier is not None else ""
        warn(f"edgejudge: {counted} lines judged in {summary.seconds:.1f} s ({summary.ok} ok, {summary.failed} "
             f"failed{note}){where}")
    if signals():
        raise Interrupted(f"stopped by {signals.name}; every record written is whole",
                          hint="rerun with -o OUT --resume to finish" if output else
                          "the records written are whole; use -o OUT to be able to --resume")
    if summary.codes.get("internal_error"):
        raise EdgejudgeError(f"{summary.codes['internal_error']} lines met an internal error (records with "
                             "code internal_error)", hint="this is a bug; please report it with those lines")
    if errors:
        codes = summary.codes + (earlier.errors if earlier is not None else collections.Counter())
        listed = ", ".join(f"{code} x{n}" for code, n in codes.most_common())
        total = counted + (summary.skipped if earlier is not None else 0)
        hint = "their records have status \"error\" and say what is wrong"
        if kept:
            hint += "; --resume --retry-errors judges the earlier ones again"
        raise PartialFailure(f"{errors} of {total} records are errors ({listed})", hint=hint)


@click.command()
@runtime_options
@backend_options
@judge_options
@trust_options
@click.option("--stdio", is_flag=True,
              help="Serve requests on stdin/stdout, one JSON per line (the only transport; required).")
def serve(stdio, **kwargs):
    """Run as a co-process of another program: one JSON request per line on stdin, one response per
    line on stdout. It opens no network port.

    A request is a record as `score` reads it (it may carry "options"); {"op": "ping"} answers
    {"op": "pong"}, {"op": "info"} describes the loaded model. The model is loaded once; a bad
    request gets an error response; EOF or SIGTERM ends the server cleanly (exit 0).
    """
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.streams import reader, stream
    from edgejudge.streams.signals import StopNow, StopSignals

    if not stdio:
        raise UsageError(
            "edgejudge serve answers on stdin/stdout only, so it must be started with --stdio "
            "(by the program that writes its requests); it opens no network port",
            hint="edgejudge serve --stdio -m MODEL; for an HTTP server, serve the GGUF with llama-server "
                 "(-m \"$(edgejudge path MODEL)\") and judge with --backend openai --base-url URL",
        )

    options = options_from(kwargs)
    out = data_writer()
    with StopSignals() as signals:  # from the start: SIGTERM while loading is a clean exit 0 too
        try:
            with signals.interruptible():
                judge = load_judge(kwargs, min_ctx=BATCH_CTX, workload=workload_of(options))
            with judge:
                scorer = stream.Scorer(judge, options)
                warn(f"edgejudge: serving {judge.resolved.id}:{judge.resolved.quant} on stdio")
                lines = reader.read_lines(sys.stdin.buffer, scorer.max_line_bytes, signals.interruptible)
                for line_no, raw in stream.numbered(lines):
                    answer = _answer(scorer, raw, line_no)
                    with signals.writing():
                        out.record(answer)
                    if signals():
                        break
        except StopNow:
            pass


def _answer(scorer, raw, line_no: int) -> dict:
    from edgejudge.streams import stream
    from edgejudge.streams.reader import Oversized

    if isinstance(raw, Oversized):
        return scorer.record(raw, line_no)
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
