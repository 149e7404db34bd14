"""Flags shared by several commands, and turning them into library objects.

Heavy modules are imported inside the functions, so that defining the commands stays cheap and
``edgejudge --help`` never imports llama_cpp.
"""

from __future__ import annotations

import os

import click

from edgejudge.cli.anytime_options import anytime_flags, build, given
from edgejudge.errors import UsageError

TASK_NAMES = ["pairwise", "pointwise", "arena", "strength", "binary", "safety", "mcq", "rubric", "refine"]


class ThinkBudget(click.ParamType):
    """A number of tokens >= 0, or "authors" (the authors' own budget, from the registry)."""

    name = "N|authors"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "authors":
            return value
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            self.fail(f"{value!r} is not a number >= 0 or 'authors'", param, ctx)
        return number


class RubricVariants(click.ParamType):
    """``all``, or how many rubric variants to average over (drawn with the seed)."""

    name = "all|N"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "all":
            return value
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            self.fail(f"{value!r} is not 'all' or a number >= 1", param, ctx)
        return number


RUBRIC_VARIANT_HELP = ("Which of mR3's rubric variants to render: the authors' rubric text and key order, "
                       "numbered text * orders + order (0 = first text, keys in file order; ranges per task "
                       "in docs/formats.md).")


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
        click.option("--choice", "--option", "choices", multiple=True,
                     help="An answer choice (mcq); repeat for each (--option is the same flag)."),
        click.option("--json", "record_json", default=None, metavar="RECORD",
                     help="The item as one JSON object, as a line of `edgejudge score` input."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def judge_options(func):
    """Flags for how to judge (shared by ``judge`` and ``score``)."""
    options = [
        click.option("--explain/--no-explain", default=None,
                     help="Have the model write a short explanation before its verdict (default: on for judges "
                          "trained to explain, mR3, RM-R1 and RubricRM; off for generic models such as the "
                          "default, where it is slow and says little)."),
        click.option("--max-explain-tokens", type=int, default=None,  # ranges: formats/option_rules.py
                     help="Token budget of the explanation (default per family)."),
        click.option("--think/--no-think", default=None,
                     help="Reason before the verdict (default: as the family does); --no-think is the fast mode."),
        click.option("--think-budget", type=ThinkBudget(), default=None, metavar="N|authors",
                     help="Most reasoning tokens before the block is closed (default per model, chosen for CPU "
                          "cost); 'authors' uses the authors' own figure (mR3 16384, RM-R1 50000)."),
        *anytime_flags(),
        click.option("--keep-reasoning", is_flag=True, help="Include the reasoning text in the output."),
        click.option("--swap", is_flag=True, help="Judge both orders of the two responses and combine them."),
        click.option("--tie-on-disagreement", is_flag=True, help="With --swap, call it a tie when the orders disagree."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed for sampled text."),
        click.option("--rubric-variant", type=click.IntRange(0), default=None, help=RUBRIC_VARIANT_HELP),
        click.option("--rubric-variants", type=RubricVariants(), default=None, metavar="all|N",
                     help="Average the verdict over mR3's rubric variants: 'all', or N drawn with --seed; "
                          "reports the spread. Costs one judgment per variant (arena has 72: prefer a sample "
                          "such as 8)."),
        click.option("--policy", type=click.Choice(["strict", "loose"]), default=None,
                     help="Qwen3Guard's reading of 'controversial' for the binary safety verdict: strict counts it "
                          "as unsafe (default), loose as safe; the three-way probabilities are kept."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def options_from(kwargs: dict):
    """JudgeOptions from the judging flags, checked by the same rules as a JSONL line's options."""
    from edgejudge.errors import InputError
    from edgejudge.formats import option_rules

    values = given({name: kwargs.pop(name) for name in option_rules.PER_LINE})
    for name, value in values.items():
        try:
            option_rules.check_option(name, value)
        except InputError as exc:
            raise UsageError(f"--{name.replace('_', '-')}: {exc.message}") from None
    return build(values)


def record_item(kwargs: dict):
    """An Item from the item flags (or --json), with usage errors for contradictory flags; and the
    record it came from, whose ``"options"`` object (a --json record's run options) the caller
    applies with ``option_rules.line_options``."""
    import orjson

    from edgejudge.errors import InputError
    from edgejudge.items import make_item

    fields = {name: kwargs.pop(name) for name in ("task", "prompt", "response_a", "response_b", "response",
                                                  "scale", "rubric", "variant", "choices", "record_json")}
    raw = fields.pop("record_json")
    if raw is not None:
        if any(v for v in fields.values()):
            raise UsageError("give the item either as flags or as --json, not both")
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            from edgejudge.json_errors import describe

            raise InputError(f"--json is not valid JSON, {describe(exc, raw)}", code="bad_json") from None
        return make_item(record), record
    if fields["prompt"] is None:
        raise UsageError("nothing to judge: --prompt is required", hint="give --prompt and the response flags, or --json")
    two = fields["response_a"] is not None or fields["response_b"] is not None
    if two and fields["response"] is not None:
        raise UsageError("give either --response-a and --response-b or --response, not both")
    if fields["scale"] is not None and (two or fields["task"] not in (None, "pointwise")):
        raise UsageError("--scale applies to pointwise judging (--response) only")
    if fields["task"] is None and not two and fields["response"] is None and not fields["choices"]:
        raise UsageError("nothing to judge", hint="give --response-a and --response-b, or --response")
    record = {k: v for k, v in fields.items() if v not in (None, ())}
    if fields["choices"]:
        record["choices"] = list(fields["choices"])
        record.setdefault("task", "mcq")
    return make_item(record), {}


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
        click.option("--batch", "n_batch", type=click.IntRange(1), default=None,
                     help="Tokens per llama_decode call (default: tuned, else 512; env EDGEJUDGE_BATCH)."),
        click.option("--ubatch", "n_ubatch", type=click.IntRange(1), default=None,
                     help="Tokens per compute micro-batch (default: tuned, else the batch; env EDGEJUDGE_UBATCH)."),
        click.option("--tune/--no-tune", default=None,
                     help="Measure the fastest settings on first use of a quant type on this machine "
                          "(default: on; env EDGEJUDGE_TUNE=0 turns it off)."),
        click.option("--prefix-cache/--no-prefix-cache", default=None,
                     help="Load the prompt's fixed head from the persistent prefix cache (default: on; "
                          "env EDGEJUDGE_PREFIX_CACHE=0 turns it off)."),
        click.option("-v", "--verbose", is_flag=True, default=None, help="Show llama.cpp's log on stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from(kwargs: dict):
    from edgejudge.backends.llama.runtime import RuntimeSettings

    return RuntimeSettings.from_env(
        threads=kwargs.pop("threads"), gpu_layers=kwargs.pop("gpu_layers"),
        extra_bufts=kwargs.pop("extra_bufts"), flash_attn=kwargs.pop("flash_attn"),
        verbose=kwargs.pop("verbose"), n_batch=kwargs.pop("n_batch"), n_ubatch=kwargs.pop("n_ubatch"),
        tune=kwargs.pop("tune"), prefix_cache=kwargs.pop("prefix_cache"),
    )


def workload_of(options) -> str | None:
    """Which tuned settings fit the judging options: None leaves it to the family's default."""
    if options.think is None:
        return None
    return "think" if options.think else "no_think"


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


def load_judge(kwargs: dict, **extra):
    """The judge for a command; with the trust flags, one that abstains or escalates."""
    return trusted(_load_judge(kwargs, **extra), kwargs)


def _load_judge(kwargs: dict, **extra):
    from edgejudge.judging.judge import Judge

    settings = settings_from(kwargs)
    backend = kwargs.pop("backend", "local")
    remote = {k: kwargs.pop(k, None) for k in ("base_url", "api_key_env", "server_model", "dialect", "timeout", "retries")}
    if backend == "openai":
        from edgejudge.backends.remote import RemoteSettings

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


TRUST_KEYS = ("no_calibration", "abstain_below", "target_error", "delta", "escalate")


def trust_options(func):
    """Flags for calibration, abstention and escalation (judge, score, serve, eval)."""
    options = [
        click.option("--no-calibration", is_flag=True, default=None,
                     help="Report the model's own probabilities even where a calibration is stored."),
        click.option("--abstain-below", type=click.FloatRange(0, 1), default=None, metavar="P",
                     help="Abstain (status \"abstain\", no verdict) when the top label's probability is below P."),
        click.option("--target-error", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     metavar="ALPHA", help="Abstain below the threshold that keeps the error on answered items "
                                           "<= ALPHA with confidence 1-delta (from the stored calibration)."),
        click.option("--delta", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     help="Risk that --target-error's guarantee fails (default 0.1)."),
        click.option("--escalate", default=None, metavar="think|MODEL",
                     help="Below the threshold, judge again: 'think' (the same model, reasoning under its budget, "
                          "after a first read without) or another judge MODEL; abstain only below the last one's."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def trusted(judge, kwargs: dict):
    """``judge`` as the trust flags in ``kwargs`` want it (the flags are taken out of ``kwargs``)."""
    from edgejudge.trust import abstain

    flags = {key: kwargs.pop(key, None) for key in TRUST_KEYS}
    if flags["no_calibration"]:
        judge.calibration = None
    elif getattr(judge, "calibration", None) is not None and _stderr_is_terminal():
        from edgejudge.cli.output import warn

        judge.calibration.announce = lambda line: warn(f"edgejudge: {line}")
    try:
        policy = abstain.Policy(flags["abstain_below"], flags["target_error"],
                                abstain.DEFAULT_DELTA if flags["delta"] is None else flags["delta"])
        if not policy.active and flags["escalate"] is None:
            return judge
        from edgejudge.trust.cascade import TrustedJudge

        return TrustedJudge(judge, policy=policy, escalate=flags["escalate"])
    except BaseException:
        judge.close()
        raise


def _stderr_is_terminal() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
