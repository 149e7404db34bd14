"""The ``edgejudge`` command line: thin wrappers over library functions.

Errors become a message on stderr and an exit code here, in :class:`_Group.invoke`, and nowhere
else. Heavy modules (llama_cpp, numpy, gguf) are imported inside the commands that need them, so
``edgejudge --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from edgejudge import __version__
from edgejudge.errors import EdgejudgeError, Interrupted, UsageError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        _setup_logging()
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


def _report(exc: EdgejudgeError) -> None:
    click.echo(f"edgejudge: error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)


def runtime_options(func):
    """Flags for the llama.cpp settings of commands that load a model."""
    options = [
        click.option("-m", "--model", "model", metavar="MODEL", default=None,
                     help="Registered id, ID:QUANT, or path to a .gguf file (default: the registry's "
                          "default model, or $EDGEJUDGE_MODEL)."),
        click.option("--threads", type=click.IntRange(1), default=None,
                     help="CPU threads (default: the CPUs this process may use, capped by its cgroup quota)."),
        click.option("--gpu-layers", type=int, default=None,
                     help="Layers to offload to the GPU, -1 for all (default: all where the build supports it)."),
        click.option("--extra-bufts/--no-extra-bufts", default=None,
                     help="Allow llama.cpp's weight repacking (default: off on CPUs with AMX, where it crashes)."),
        click.option("--flash-attn", type=click.Choice(["auto", "on", "off"]), default=None,
                     help="Flash attention (default: auto, where the backend supports it)."),
        click.option("-v", "--verbose", is_flag=True, default=None, help="Show llama.cpp's log on stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(kwargs: dict):
    from edgejudge.runtime import RuntimeSettings

    return RuntimeSettings.from_env(
        threads=kwargs.pop("threads"), gpu_layers=kwargs.pop("gpu_layers"),
        extra_bufts=kwargs.pop("extra_bufts"), flash_attn=kwargs.pop("flash_attn"),
        verbose=kwargs.pop("verbose"),
    )


def backend_options(func):
    """Flags to run the judge on an OpenAI-compatible server instead of locally."""
    options = [
        click.option("--backend", type=click.Choice(["local", "openai"]), default="local", show_default=True,
                     help="Run locally with llama.cpp, or on an OpenAI-compatible server (llama-server, vLLM)."),
        click.option("--base-url", default=None, metavar="URL", help="The server, e.g. http://127.0.0.1:8080 (openai)."),
        click.option("--api-key-env", default=None, metavar="VAR", help="Environment variable holding the API key."),
        click.option("--server-model", default=None, help="The server's model name (default: its first)."),
        click.option("--dialect", type=click.Choice(["auto", "llama.cpp", "vllm"]), default="auto",
                     help="How to send grammars: llama.cpp servers or vLLM (auto: from /v1/models)."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True,
                     help="Seconds to wait for one server request."),
        click.option("--retries", type=click.IntRange(0), default=3, show_default=True,
                     help="Retries of a request that failed for a transient reason (connection, 429, 5xx)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load_judge(kwargs: dict, **extra):
    from edgejudge.judge import Judge

    settings = _settings(kwargs)
    backend = kwargs.pop("backend", "local")
    remote = {k: kwargs.pop(k, None) for k in ("base_url", "api_key_env", "server_model", "dialect", "timeout", "retries")}
    if backend == "openai":
        from edgejudge.remote import RemoteSettings

        if not remote["base_url"]:
            raise UsageError("--backend openai needs --base-url", hint="e.g. --base-url http://127.0.0.1:8080")
        key = None
        if remote["api_key_env"]:
            key = os.environ.get(remote["api_key_env"])
            if not key:
                raise UsageError(f"--api-key-env {remote['api_key_env']}: that variable is not set")
        return Judge.remote(kwargs.pop("model"), RemoteSettings(
            base_url=remote["base_url"], api_key=key, model=remote["server_model"], dialect=remote["dialect"],
            timeout=remote["timeout"], retries=remote["retries"]))
    if remote["base_url"]:
        raise UsageError("--base-url needs --backend openai")
    return Judge.load(kwargs.pop("model"), settings=settings, **extra)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="edgejudge", message="%(prog)s %(version)s")
def cli():
    """edgejudge: an offline LLM judge on llama.cpp.

    Judges one response (pointwise) or two (pairwise) with a local GGUF model and reports the
    verdict with its probability, read from the model's logits.

    \b
    Exit codes: 0 ok, 2 usage, 3 model not found, 4 bad model file, 5 bad input,
    6 context overflow, 7 llama.cpp failure, 8 bad registry, 9 some lines failed,
    10 conversion, 11 download, 12 grammar, 13 unparseable output, 130 interrupted.
    """


@cli.command()
@runtime_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def doctor(as_json, **kwargs):
    """Report the platform, CPU features, llama.cpp build and the settings edgejudge chooses."""
    from edgejudge import doctor as doctor_mod
    from edgejudge.output import data_writer

    report = doctor_mod.collect(_settings(kwargs), kwargs.pop("model"))
    out = data_writer()
    if as_json:
        out.record(report, pretty=out.isatty())
    else:
        out.text(doctor_mod.format_text(report))


def main() -> None:
    """Console entry point."""
    cli(prog_name="edgejudge")


# Commands kept in their own modules register themselves on ``cli`` when imported.
from edgejudge import cli_convert, cli_judge, cli_store, cli_stream  # noqa: E402,F401


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
    sys.exit(main())
