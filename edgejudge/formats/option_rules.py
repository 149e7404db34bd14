"""The one place judging options are validated, whichever way they come in.

Flags (``--seed``), a JSONL line's ``"options"`` object and keyword arguments of the Python API
all end in :class:`~edgejudge.formats.JudgeOptions`, whose ``__post_init__`` checks every field
here. A wrong type or an out-of-range value is an :class:`InputError` with the code
``bad_options``: a per-line error record in ``score``/``serve``/``score_many``, a usage error
(exit 2) when it came from a flag.
"""

from __future__ import annotations

from collections.abc import Mapping

from edgejudge.errors import InputError
from edgejudge.items import MCQ_OPTIONS_HINT, MCQ_OPTIONS_LIST

TOKEN_BUDGET_MAX = 2**20  # far above any context; larger values are typos
SEED_MAX = 2**32 - 1  # llama.cpp and OpenAI-compatible servers take a 32-bit unsigned seed
VARIANT_MAX = 10_000  # mR3 has at most 72 rubric variants per task

# name -> (what it must be, as people read it; check)
_RULES = {
    "explain": ("true, false or null", lambda v: v is None or isinstance(v, bool)),
    "max_explain_tokens": (f"null or an integer from 1 to {TOKEN_BUDGET_MAX}",
                           lambda v: v is None or _int_in(v, 1, TOKEN_BUDGET_MAX)),
    "think": ("true, false or null", lambda v: v is None or isinstance(v, bool)),
    "think_budget": (f"null, \"authors\" or an integer from 0 to {TOKEN_BUDGET_MAX}",
                     lambda v: v is None or v == "authors" or _int_in(v, 0, TOKEN_BUDGET_MAX)),
    "keep_reasoning": ("true or false", lambda v: isinstance(v, bool)),
    "swap": ("true or false", lambda v: isinstance(v, bool)),
    "tie_on_disagreement": ("true or false", lambda v: isinstance(v, bool)),
    "seed": (f"an integer from 0 to {SEED_MAX}", lambda v: _int_in(v, 0, SEED_MAX)),
    # Ranges per task are checked where the variants are known (formats/rubrics.py).
    "rubric_variant": (f"null or an integer from 0 to {VARIANT_MAX}", lambda v: v is None or _int_in(v, 0, VARIANT_MAX)),
    "rubric_variants": (f"null, \"all\" or an integer from 1 to {VARIANT_MAX}",
                        lambda v: v is None or v == "all" or _int_in(v, 1, VARIANT_MAX)),
    "policy": ('null, "strict" or "loose"', lambda v: v is None or v in ("strict", "loose")),
    "think_until": ("null or a number greater than 0 and at most 1 (a probability)",
                    lambda v: v is None or _probability(v)),
    "min_think": (f"an integer from 1 to {TOKEN_BUDGET_MAX}", lambda v: _int_in(v, 1, TOKEN_BUDGET_MAX)),
    "probe_every": (f"an integer from 0 (no probes) to {TOKEN_BUDGET_MAX}",
                    lambda v: _int_in(v, 0, TOKEN_BUDGET_MAX)),
}
# What a JSONL line may set in its "options" object (sampling is the API's alone).
PER_LINE = tuple(_RULES)


def _int_in(value: object, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _probability(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1


def check_together(options) -> None:
    """Rules between options (each is valid alone): think_until needs the probes it stops at."""
    if options.think_until is not None and options.probe_every == 0:
        raise InputError("option think_until needs probes, but probe_every is 0 (probes off)",
                         code="bad_options", hint="leave probe_every at its default, or drop think_until")


def check_option(name: str, value: object) -> None:
    """Raise :class:`InputError` (code ``bad_options``) unless ``value`` is valid for ``name``."""
    if name == "sampling":
        from edgejudge.store.registry import Sampling

        if value is not None and not isinstance(value, Sampling):
            raise InputError(f"option sampling must be a Sampling or None, got {type(value).__name__}",
                             code="bad_options")
        return
    rule = _RULES.get(name)
    if rule is None:
        raise InputError(f"unknown option {name!r}", code="bad_options",
                         hint=f"options are: {', '.join(PER_LINE)}")
    wanted, ok = rule
    if not ok(value):
        shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40]) + "..."
        raise InputError(f"option {name} must be {wanted}, got {shown}", code="bad_options")


def check_overrides(overrides: object) -> dict:
    """A JSONL line's ``"options"`` object, checked key by key (values are checked on use)."""
    if isinstance(overrides, list):
        raise InputError(MCQ_OPTIONS_LIST, code="bad_options", hint=MCQ_OPTIONS_HINT)
    if not isinstance(overrides, Mapping):
        raise InputError(f"options must be a JSON object, got {type(overrides).__name__}", code="bad_options",
                         hint=f'e.g. "options": {{"swap": true}}; keys: {", ".join(PER_LINE)}')
    unknown = sorted(str(k) for k in overrides if k not in PER_LINE)
    if unknown:
        raise InputError(f"unknown option {unknown[0]!r}", code="bad_options",
                         hint=f"options are: {', '.join(PER_LINE)}")
    return dict(overrides)


def line_options(base, record: object):
    """``base`` (JudgeOptions) with a record's ``"options"`` object on top, checked like flags:
    the one rule for a line of ``score``/``serve``/``score_many`` and ``judge``/``prompt --json``."""
    from dataclasses import replace

    overrides = record.get("options") if isinstance(record, Mapping) else None
    if overrides is None:
        return base
    return replace(base, **check_overrides(overrides))
