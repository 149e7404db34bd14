"""Judging commands: ``judge``, ``prompt``, ``rubric``, ``parse`` and ``demo``."""

from __future__ import annotations

import sys

import click

from edgejudge.cli import _load_judge, backend_options, cli, runtime_options
from edgejudge.errors import UsageError

TASK_NAMES = ["pairwise", "pointwise", "arena", "strength", "binary", "safety", "mcq", "rubric", "refine"]


def item_options(func):
    """Flags that describe one item (shared by ``judge`` and ``prompt``)."""
    options = [
        click.option("--task", type=click.Choice(TASK_NAMES), default=None,
                     help="What to judge (default: pairwise with two responses, pointwise with one)."),
        click.option("--prompt", "prompt", default=None, help="The user's request that the responses answer."),
        click.option("--response-a", default=None, help="First response (pairwise, arena, strength)."),
        click.option("--response-b", default=None, help="Second response."),
        click.option("--response", default=None, help="The one response (pointwise, binary, safety, refine)."),
        click.option("--scale", default=None, metavar="LO-HI", help="Pointwise scale (default 1-5)."),
        click.option("--rubric", default=None, help="Criteria to judge by (replaces a judge's built-in rubric)."),
        click.option("--variant", default=None,
                     help="mR3 subset (general, safety, math, code), binary domain (math, code), safety target "
                          "(prompt, response, toxicity), RubricRM template (v2, v1)."),
        click.option("--option", "options", multiple=True, help="An answer option (mcq); repeat for each."),
        click.option("--json", "record_json", default=None, metavar="RECORD",
                     help="The item as one JSON object, as a line of `edgejudge score` input."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def judge_options(func):
    """Flags for how to judge (shared by ``judge`` and ``score``)."""
    options = [
        click.option("--explain/--no-explain", default=True, show_default=True,
                     help="Have the model write a short explanation before its verdict."),
        click.option("--max-explain-tokens", type=click.IntRange(1), default=None,
                     help="Token budget of the explanation (default per family)."),
        click.option("--think/--no-think", default=None,
                     help="Reason before the verdict (default: as the family does); --no-think is the fast mode."),
        click.option("--think-budget", type=click.IntRange(0), default=None,
                     help="Most reasoning tokens before the block is closed (default per model)."),
        click.option("--keep-reasoning", is_flag=True, help="Include the reasoning text in the output."),
        click.option("--swap", is_flag=True, help="Judge both orders of the two responses and combine them."),
        click.option("--tie-on-disagreement", is_flag=True, help="With --swap, call it a tie when the orders disagree."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed for sampled text."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def options_from(kwargs: dict):
    from edgejudge.formats import JudgeOptions

    return JudgeOptions(
        explain=kwargs.pop("explain"), max_explain_tokens=kwargs.pop("max_explain_tokens"),
        think=kwargs.pop("think"), think_budget=kwargs.pop("think_budget"),
        keep_reasoning=kwargs.pop("keep_reasoning"), swap=kwargs.pop("swap"),
        tie_on_disagreement=kwargs.pop("tie_on_disagreement"), seed=kwargs.pop("seed"),
    )


def item_from(kwargs: dict):
    """An Item from the item flags (or --json), with usage errors for contradictory flags."""
    import orjson

    from edgejudge.errors import InputError
    from edgejudge.items import make_item

    fields = {name: kwargs.pop(name) for name in ("task", "prompt", "response_a", "response_b", "response",
                                                  "scale", "rubric", "variant", "options", "record_json")}
    raw = fields.pop("record_json")
    if raw is not None:
        if any(v for v in fields.values()):
            raise UsageError("give the item either as flags or as --json, not both")
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"--json is not valid JSON: {exc}", code="bad_json") from None
        return make_item(record)
    if fields["prompt"] is None:
        raise UsageError("nothing to judge: --prompt is required", hint="give --prompt and the response flags, or --json")
    two = fields["response_a"] is not None or fields["response_b"] is not None
    if two and fields["response"] is not None:
        raise UsageError("give either --response-a and --response-b or --response, not both")
    if fields["scale"] is not None and (two or fields["task"] not in (None, "pointwise")):
        raise UsageError("--scale applies to pointwise judging (--response) only")
    if fields["task"] is None and not two and fields["response"] is None and not fields["options"]:
        raise UsageError("nothing to judge", hint="give --response-a and --response-b, or --response")
    record = {k: v for k, v in fields.items() if v not in (None, ())}
    if fields["options"]:
        record["options"] = list(fields["options"])
        record.setdefault("task", "mcq")
    return make_item(record)


@cli.command()
@runtime_options
@backend_options
@item_options
@judge_options
def judge(**kwargs):
    """Judge one item given by flags (or --json) and print its verdict as one JSON object.

    \b
    Pairwise:  edgejudge judge --prompt P --response-a A --response-b B
    Pointwise: edgejudge judge --prompt P --response R --scale 1-5
    mR3:       edgejudge judge -m mr3-qwen3-4b --task arena --prompt P --response-a A --response-b B --swap
    """
    from edgejudge.output import data_writer

    item = item_from(kwargs)
    options = options_from(kwargs)
    out = data_writer()
    with _load_judge(kwargs) as j:
        result = j.judge(item, options)
    out.record(result.to_dict(), pretty=out.isatty())


@cli.command()
@click.option("-m", "--model", "model", metavar="MODEL", default=None, help="Registered id, ID:QUANT, or a .gguf path.")
@item_options
@click.option("--think/--no-think", default=None, help="Show the prompt of the mode without reasoning.")
@click.option("--explain/--no-explain", default=True)
@click.option("--steps", is_flag=True, help="Also print what is fed and read after the prompt (JSON, on stderr).")
def prompt(model, think, explain, steps, **kwargs):
    """Print the exact prompt text the model would get for an item (no weights are loaded)."""
    from edgejudge import prompts
    from edgejudge.formats import JudgeOptions
    from edgejudge.output import data_writer, warn

    item = item_from(kwargs)
    text, plan_steps = prompts.render(model, item, JudgeOptions(think=think, explain=explain))
    data_writer().raw(text.encode("utf-8"))
    if steps:
        warn(plan_steps)


@cli.command()
@runtime_options
@click.option("--prompt", "prompt", required=True, help="The user's request to write a rubric for.")
def rubric(prompt, **kwargs):
    """Write a rubric for a request with a rubric generator (e.g. rubricrm-4b-rubric), as JSON."""
    from edgejudge.output import data_writer, warn

    out = data_writer()
    with _load_judge(kwargs) as j:
        result = j.judge({"task": "rubric", "prompt": prompt})
    if not result.extra["rubric_items"]:
        warn("edgejudge: the model finished no complete rubric item within its budget")
    out.record(result.to_dict(), pretty=out.isatty())


@cli.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--family", type=click.Choice(["mr3", "rmr1", "rubricrm", "generic"]), required=True)
@click.option("--task", type=click.Choice(TASK_NAMES), default="pairwise", show_default=True)
def parse(source, family, task):
    """Read the verdict in a judge's free-running output (a file, or - for stdin)."""
    from edgejudge import parsers
    from edgejudge.output import data_writer

    result = parsers.parse(family, task, source.read())
    data_writer().record({"family": family, "task": task, "verdict": result.verdict, "native": result.native})


@cli.command()
@runtime_options
@click.option("--explain/--no-explain", default=True, show_default=True)
def demo(explain, **kwargs):
    """Judge the bundled sample pairs with the default model and print the verdicts (JSONL)."""
    from edgejudge import samples
    from edgejudge.output import data_writer, warn

    out = data_writer()
    with _load_judge(kwargs) as j:
        report = samples.run_demo(j, out.record, explain=explain)
    warn(report)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
