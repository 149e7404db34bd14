"""Speed commands: ``tune`` (measure the fastest llama.cpp settings) and ``cache ls|clear``."""

from __future__ import annotations

import click


@click.command()
@click.option("-m", "--model", "model", metavar="MODEL", default=None, help="Registered id, ID:QUANT, or a .gguf path.")
@click.option("--quick", is_flag=True, help="The short measurement that runs automatically on first use.")
@click.option("--prompt-tokens", type=click.IntRange(8), default=None, help="Prompt tokens timed per candidate.")
@click.option("--decode-tokens", type=click.IntRange(1), default=None, help="Tokens decoded per candidate.")
@click.option("--reps", type=click.IntRange(1), default=None, help="Timed runs per candidate (the best counts).")
def tune(model, quick, prompt_tokens, decode_tokens, reps):
    """Time llama.cpp settings for MODEL's quant type on this machine and keep the fastest.

    Candidates: weight repacking on/off (never where it crashes), flash attention on/off, then
    threads and micro-batch sizes around the best. The choice, per workload (with and without
    thinking), is used by default from then on; flags and EDGEJUDGE_* variables still override.
    Prints the record (JSON) on stdout; on stderr one line per candidate as it is measured, then a table.
    """
    from dataclasses import replace

    from edgejudge.backends.llama import tuning, tuning_notes
    from edgejudge.cli.output import data_writer, warn

    plan = tuning.QUICK if quick else tuning.FULL
    plan = replace(plan, **{k: v for k, v in (("prompt_tokens", prompt_tokens), ("decode_tokens", decode_tokens),
                                              ("reps", reps)) if v is not None})
    count = [0]

    def said(figure: dict) -> None:  # one line per candidate, piped or not: stdout stays the record
        count[0] += 1
        warn(f"edgejudge: candidate {count[0]}: {tuning_notes.figure_line(figure)}")

    warn(f"edgejudge: timing llama.cpp settings for {model or 'the default model'} "
         f"({plan.prompt_tokens}-token prompt, {plan.decode_tokens} decoded tokens, {plan.reps} runs per candidate)")
    record = tuning.tune_model(model, plan, on_figure=said)
    warn(tuning.format_text(record))
    warn(f"edgejudge: measured {count[0]} candidates in {record['seconds']:.1f} s; kept in {tuning.tuning_file()}")
    data_writer().record(record)


@click.group()
def cache():
    """The persistent prefix cache (the KV state of each judge prompt's fixed head)."""


@cache.command("ls")
def cache_ls():
    """One JSON line per cached prefix, least recently used first."""
    from edgejudge.backends.llama import prefix_cache
    from edgejudge.cli.output import data_writer

    out = data_writer()
    for entry in prefix_cache.entries(strict=True):
        out.record(entry.as_dict())


@cache.command("clear")
def cache_clear():
    """Delete every cached prefix (they are rebuilt on use)."""
    from edgejudge.backends.llama import prefix_cache
    from edgejudge.cli.output import data_writer

    files, size = prefix_cache.clear()
    data_writer().record({"removed_files": files, "freed_bytes": size})


COMMANDS = (tune, cache)
