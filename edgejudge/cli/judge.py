"""Judging commands: ``judge``, ``prompt``, ``rubric``, ``parse`` and ``demo``."""

from __future__ import annotations


import click

from edgejudge.cli.options import (
    TASK_NAMES,
    backend_options,
    item_from,
    item_options,
    judge_options,
    load_judge,
    options_from,
    runtime_options,
)
from edgejudge.cli.trust import trust_options


@click.command()
@runtime_options
@backend_options
@item_options
@judge_options
@trust_options
def judge(**kwargs):
    """Judge one item given by flags (or --json) and print its verdict as one JSON object.

    \b
    Pairwise:  edgejudge judge --prompt P --response-a A --response-b B
    Pointwise: edgejudge judge --prompt P --response R --scale 1-5
    mR3:       edgejudge judge -m mr3-qwen3-4b --task arena --prompt P --response-a A --response-b B --swap
    """
    from edgejudge.cli.output import data_writer

    item = item_from(kwargs)
    options = options_from(kwargs)
    out = data_writer()
    with load_judge(kwargs) as j:
        result = j.judge(item, options)
    out.record(result.to_dict(), pretty=out.isatty())


@click.command()
@click.option("-m", "--model", "model", metavar="MODEL", default=None, help="Registered id, ID:QUANT, or a .gguf path.")
@item_options
@click.option("--think/--no-think", default=None, help="Show the prompt of the mode without reasoning.")
@click.option("--explain/--no-explain", default=True)
@click.option("--steps", is_flag=True, help="Also print what is fed and read after the prompt (JSON, on stderr).")
def prompt(model, think, explain, steps, **kwargs):
    """Print the exact prompt text the model would get for an item (no weights are loaded)."""
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.formats import JudgeOptions
    from edgejudge.judging import prompts

    item = item_from(kwargs)
    text, plan_steps = prompts.render(model, item, JudgeOptions(think=think, explain=explain))
    data_writer().raw(text.encode("utf-8"))
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
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--family", type=click.Choice(["mr3", "rmr1", "rubricrm", "generic"]), required=True)
@click.option("--task", type=click.Choice(TASK_NAMES), default="pairwise", show_default=True)
def parse(source, family, task):
    """Read the verdict in a judge's free-running output (a file, or - for stdin)."""
    from edgejudge.cli.output import data_writer
    from edgejudge.judging import parsers

    result = parsers.parse(family, task, source.read())
    data_writer().record({"family": family, "task": task, "verdict": result.verdict, "native": result.native})


@click.command()
@runtime_options
@click.option("--explain/--no-explain", default=True, show_default=True)
def demo(explain, **kwargs):
    """Judge the bundled sample pairs with the default model and print the verdicts (JSONL)."""
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.judging import samples

    out = data_writer()
    with load_judge(kwargs) as j:
        report = samples.run_demo(j, out.record, explain=explain)
    warn(report)


COMMANDS = (judge, prompt, rubric, parse, demo)
