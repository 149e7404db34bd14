"""The flags of anytime verdicts (docs/anytime.md), shared by every command that judges: stop
reasoning once a probe is confident enough, after how many tokens, and how often to probe."""

from __future__ import annotations

import click

# Not given on the command line: JudgeOptions' own default (formats/options.py) applies.
DEFAULTED = ("min_think", "probe_every")


def anytime_flags() -> list:
    # Ranges are checked with every other option's, in formats/option_rules.py.
    return [
        click.option("--think-until", type=float, default=None, metavar="P",
                     help="Stop reasoning at the first probe (from --min-think tokens on) whose leading label has "
                          "probability >= P, then close it and give the verdict as usual (default: off)."),
        click.option("--min-think", type=int, default=None, metavar="N",
                     help="Reasoning tokens before --think-until may stop it (default 128)."),
        click.option("--probe-every", type=int, default=None, metavar="N",
                     help="Read a trial verdict while reasoning at least every N tokens, at token 0 and at "
                          "transitions, recorded in \"probes\" (default 256); 0 turns probes off."),
    ]


def given(values: dict) -> dict:
    """``values`` without the anytime flags that were not given."""
    return {k: v for k, v in values.items() if not (k in DEFAULTED and v is None)}


def build(values: dict):
    """JudgeOptions from flag values each checked alone: flags that clash (``--think-until`` with
    ``--probe-every 0``) are a usage error too."""
    from edgejudge.errors import InputError, UsageError
    from edgejudge.formats import JudgeOptions

    try:
        return JudgeOptions(**values)
    except InputError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
