"""Judging commands: ``judge``, ``prompt``, ``rubric``, ``parse`` and ``demo``."""

from __future__ import annotations

import click

from edgejudge.cli.options import (
    RUBRIC_VARIANT_HELP,
    TASK_NAMES,
    backend_options,
    item_options,
    judge_options,
    load_judge,
    options_from,
    record_item,
    runtime_options,
    trust_options,
    workload_of,
)


@click.command()
@runtime_options
@backend_options
@item_options
@judge_options
@trust_options
@click.option("--progress/--no-progress", default=None,
              help="A line on stderr while the judge reasons (default: when stderr is a terminal).")
def judge(progress, **kwargs):
    """Judge one item given by flags (or --json) and print its verdict as one JSON object.

    \b
    Pairwise:  edgejudge judge --prompt P --response-a A --response-b B
    Pointwise: edgejudge judge --prompt P --response R --scale 1-5
    mR3:       edgejudge judge -m mr3-qwen3-4b --task arena --prompt P --response-a A --response-b B --swap
    """
    from edgejudge.cli.output import ThinkProgress, data_writer
    from edgejudge.formats import option_rules

    item, record = record_item(kwargs)
    options = option_rules.line_options(options_from(kwargs), record)
    out = data_writer()
    line = ThinkProgress(enabled=progress)
    with load_judge(kwargs, workload=workload_of(options)) as j:
        if line.enabled:
            j.engine.watch = line
        try:
            result = j.judge(item, options)
        finally:
            line.done()
    out.record(result.to_dict(), pretty=out.isatty())


@click.command()
@click.option("-m", "--model", "model", metavar="MODEL", default=None, help="Registered id, ID:QUANT, or a .gguf path.")
@item_options
@click.option("--think/--no-think", default=None,
              help="Show the prompt of the mode with reasoning (--think) or without it (--no-think); "
                   "default: as the family does.")
@click.option("--explain/--no-explain", default=None,
              help="Show the prompt of the mode with a written explanation, or without one (default: as "
                   "the judge does, on for mR3, RM-R1 and RubricRM, off for generic models).")
@click.option("--rubric-variant", type=click.IntRange(0), default=None, help=RUBRIC_VARIANT_HELP)
@click.option("--steps", is_flag=True, help="Also print what is fed and read after the prompt (JSON, on stderr).")
def prompt(model, think, explain, rubric_variant, steps, **kwargs):
    """Print the exact prompt text the model would get for an item (no weights are loaded).

    What of the prompt cannot be checked against the authors' own is said in one line on stderr.
    """
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.formats import JudgeOptions
    from edgejudge.judging import prompts

    from edgejudge.formats import option_rules

    item, record = record_item(kwargs)
    options = option_rules.line_options(JudgeOptions(think=think, explain=explain, rubric_variant=rubric_variant),
                                        record)
    text, plan_steps = prompts.render(model, item, options)
    data_writer().raw(text.encode("utf-8"))
    note = prompts.unverified(model, item)
    if note:
        warn(f"edgejudge: unverified: {note}")
    if steps:
        warn(plan_steps)


@click.command()
@runtime_options
@click.option("--prompt", "prompt", required=True, help="The user's request to write a rubric for.")
def rubric(prompt, **kwargs):
    """Write a rubric for a request with a rubric generator (e.g. rubricrm-4b-rubric), as JSON."""
    from edgejudge.cli.output import data_writer, warn

    out = data_writer()
    with load_judge(kwargs) as j:
        result = j.judge({"task": "rubric", "prompt": prompt})
    if not result.extra["rubric_items"]:
        warn("edgejudge: the model finished no complete rubric item within its budget")
    out.record(result.to_dict(), pretty=out.isatty())


@click.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--family", type=click.Choice(["mr3", "rmr1", "rubricrm", "generic", "guard"]), required=True,
              help="The judge family whose output format this is (edgejudge models shows each judge's).")
@click.option("--task", type=click.Choice(TASK_NAMES), default="pairwise", show_default=True,
              help="The task the output answers (it decides which labels are valid).")
@click.option("--policy", type=click.Choice(["strict", "loose"]), default="strict", show_default=True,
              help="guard: whether 'Safety: Controversial' counts as harmful (strict) or not (loose).")
def parse(source, family, task, policy):
    """Read the verdict in a judge's free-running output (a file, or - for stdin)."""
    from edgejudge import files
    from edgejudge.cli.output import data_writer
    from edgejudge.judging import parsers

    name = "standard input" if source.name in ("-", "<stdin>") else source.name
    result = parsers.parse(family, task, files.decode_text(source.read(), name), policy=policy)
    data_writer().record({"family": family, "task": task, "verdict": result.verdict, "native": result.native})


@click.command()
@runtime_options
@click.option("--explain/--no-explain", default=False, show_default=True,
              help="Also have the model write an explanation for each verdict (off by default: the "
                   "default demo model is too small to explain anything).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON verdict record per pair (the default when stdout is not a terminal).")
def demo(explain, as_json, **kwargs):
    """Judge the bundled sample pairs and show the verdicts next to the expected answers.

    On a terminal: a table (pair, verdict, its probability, the expected answer, a mark) and two
    lines saying what it shows. Piped, or with --json: JSON Lines, one verdict record per pair,
    with an extra "expected" field.
    """
    import sys

    from edgejudge.cli.output import data_writer, warn
    from edgejudge.judging import samples

    out = data_writer()
    as_json = as_json or not out.isatty()
    with load_judge(kwargs, calibration=False) as j:  # the documented figures, whatever the user fitted
        report = samples.run_demo(j, out.record if as_json else None, explain=explain)
    if as_json:
        warn(f"edgejudge: {samples.notes(report)[0]}")
        return
    unicode = "utf" in (getattr(sys.stdout, "encoding", None) or "").lower()
    out.text(samples.table(report, unicode=unicode))
    for line in samples.notes(report):
        warn(line)


COMMANDS = (judge, prompt, rubric, parse, demo)
