"""The ``edgejudge`` command line: thin wrappers over library functions.

Errors become a message on stderr and an exit code here, in :class:`_Group.invoke`, and nowhere
else. Heavy modules (llama_cpp, numpy, gguf) are imported inside the commands that need them, so
``edgejudge --help`` stays fast.
"""

from __future__ import annotations

import logging
import os

import click

from edgejudge.cli import convert, judge, speed, store, stream, trust
from edgejudge.cli.options import runtime_options, settings_from
from edgejudge.errors import EdgejudgeError, Interrupted
from edgejudge.version import __version__


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        _setup_logging()
        _ensure_std_fds()
        try:
            return super().invoke(ctx)
        except EdgejudgeError as exc:
            _report(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            _report(Interrupted("interrupted"))
            ctx.exit(Interrupted.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors are reported
            if os.environ.get("EDGEJUDGE_DEBUG"):
                raise
            _report(EdgejudgeError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="this is a bug; rerun with EDGEJUDGE_DEBUG=1 for the traceback and report it",
            ))
            ctx.exit(EdgejudgeError.exit_code)


def _ensure_std_fds() -> None:
    """Started with stdin, stdout or stderr closed, the next file opened would take its number, and
    whatever writes "to stdout" (llama.cpp's C code) would write into it: hold the numbers with
    the null device instead."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.close(null)  # a lower number was free and is now taken; nothing else to do


def _report(exc: EdgejudgeError) -> None:
    click.echo(f"edgejudge: error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="edgejudge", message="%(prog)s %(version)s")
def cli():
    """edgejudge: an offline LLM judge on llama.cpp.

    Judges one response (pointwise) or two (pairwise) with a local GGUF model and reports the
    verdict with its probability, read from the model's logits.

    \b
    Exit codes: 0 ok, 2 usage, 3 model not found, 4 bad model file, 5 bad input,
    6 context overflow, 7 llama.cpp failure, 8 bad registry, 9 some lines failed,
    10 conversion, 11 download, 12 grammar, 13 unparseable output, 14 output not
    writable, 15 model store unusable, 16 not enough disk for a pull, 130 interrupted.
    """


@click.command()
@runtime_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def doctor(as_json, **kwargs):
    """Report the platform, CPU features, llama.cpp build and the settings edgejudge chooses."""
    from edgejudge import doctor as doctor_mod
    from edgejudge.cli.output import data_writer

    report = doctor_mod.collect(settings_from(kwargs), kwargs.pop("model"))
    out = data_writer()
    if as_json:
        out.record(report, pretty=out.isatty())
    else:
        out.text(doctor_mod.format_text(report))


for _command in (doctor, *judge.COMMANDS, *stream.COMMANDS, *store.COMMANDS, *convert.COMMANDS,
                 *speed.COMMANDS, *trust.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """Console entry point."""
    cli(prog_name="edgejudge")


# Commands kept in their own modules register themselves on ``cli`` when imported.
from edgejudge.cli import (
    convert,
    judge,
    speed,
    store,
    stream,  # noqa: E402,F401
)


class _StderrNotes(logging.Handler):
    """Library notices (``logging.getLogger("edgejudge")``) as ``edgejudge: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"edgejudge: {record.getMessage()}", err=True)


def _setup_logging() -> None:
    logger = logging.getLogger("edgejudge")
    if not any(isinstance(h, _StderrNotes) for h in logger.handlers):
        logger.addHandler(_StderrNotes())
        logger.setLevel(logging.INFO)


if __name__ == "__main__":  # pragma: no cover
    main()
