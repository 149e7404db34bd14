"""Runtime settings chosen by measurement, once per (CPU, llama.cpp build, quant type, architecture).

The fastest safe setting is not a constant: weight repacking speeds up decoding and Q4_0 but
slows Q4_K prompt evaluation on AVX-512 (59 → 37 tokens/s on a Qwen3-4B Q4_K_M); threads, batch
sizes and flash attention move the figures too. So edgejudge times the candidates on the machine
(prompt evaluation and decoding, through the engine itself), weighs them by the workload (a
verdict without thinking is prompt-heavy, one with thinking decode-heavy), and keeps the choice in
``<store>/tuning.json``. ``Judge.load`` applies it to whatever the user left unset.

The first use of a new key runs a short measurement (a 64-token prompt and 8 decoded tokens per
candidate, twice, four candidates) with one line on stderr; ``EDGEJUDGE_TUNE=0`` or ``--no-tune`` skips
it, ``edgejudge tune`` runs the longer search. Where the hardware rule forbids weight repacking
(AMX CPUs with an AMX build, where it crashes), that candidate is never tried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edgejudge.backends.llama import hardware, runtime, tuning_notes
from edgejudge.backends.llama.tuning_records import (  # noqa: F401 - callers use them through here
    MAX_REPS,
    key_id,
    lookup,
    record_shape,
    records,
    settings_shape,
    store,
    tuning_file,
)
from edgejudge.errors import ContextOverflow, EdgejudgeError, UsageError

log = logging.getLogger("edgejudge")

# (prompt tokens, decoded tokens) of a typical verdict in each mode
WORKLOADS = {"no_think": (450, 16), "think": (450, 1000)}
# What tuning may choose. Flash attention is not among them: it changes a verdict's probabilities
# (up to 0.022 on SmolLM2, 0.005 on a Qwen3 Q4_K_M; docs/speed.md), so a measurement that depends
# on the machine's load must not pick it. Threads and batch sizes change none (measured equal).
TUNABLE = ("threads", "extra_bufts", "n_batch", "n_ubatch")
# In the key: records of an earlier tuning policy (which chose flash attention) are not applied.
POLICY = "2"
SAMPLE_TEXT = ("The judge reads the question, both answers and the rubric, then weighs accuracy, "
               "helpfulness and safety before it writes a short explanation and its verdict. ")


@dataclass(frozen=True)
class Plan:
    """How long to measure each candidate."""

    prompt_tokens: int = 64
    decode_tokens: int = 8
    reps: int = 1
    full: bool = False  # also search threads and batch sizes

    def __post_init__(self):
        for name, lo, hi in (("prompt_tokens", 8, 1 << 24), ("decode_tokens", 1, 1 << 24), ("reps", 1, MAX_REPS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise UsageError(f"--{name.replace('_', '-')} must be an integer from {lo} to {hi:,}, got {value!r}")

    def check_fits(self, gguf) -> None:
        """Refuse, before any work, a plan whose timed tokens do not fit in the model's context."""
        limit = gguf.context_length
        needed = self.prompt_tokens + self.decode_tokens + 8
        if limit is not None and needed > limit:
            raise ContextOverflow(
                f"--prompt-tokens {self.prompt_tokens} and --decode-tokens {self.decode_tokens} need a context of "
                f"{needed:,} tokens, but the model was trained on {limit:,}",
                hint=f"give --prompt-tokens and --decode-tokens that add up to at most {limit - 8:,}")


QUICK = Plan(reps=2)
FULL = Plan(prompt_tokens=256, decode_tokens=16, reps=3, full=True)


def key_for(gguf, info: runtime.RuntimeInfo, cpu: str | None = None) -> dict:
    """What the choice depends on: CPU model and flags, llama.cpp build, quant type, architecture."""
    flags = " ".join(sorted(hardware.cpu_flags()))
    return {"policy": POLICY, "cpu": cpu or hardware.cpu_model(),
            "cpu_flags": hashlib.sha256(flags.encode()).hexdigest()[:16],
            "llama_cpp": info.llama_cpp, "build": hashlib.sha256(info.system_info.encode()).hexdigest()[:16],
            "quant": gguf.quant or "unknown", "architecture": gguf.architecture}


def enabled(settings: runtime.RuntimeSettings) -> bool:
    if settings.tune is not None:
        return settings.tune
    flag = hardware.env_flag("EDGEJUDGE_TUNE")
    return flag is not False


def choice_for(resolved, settings: runtime.RuntimeSettings, workload: str) -> dict | None:
    """The measured choice for this model file's key and ``workload``, tuning first if this key was
    never measured (and tuning is enabled). None: nothing to apply (GPU builds, all set by hand)."""
    if all(getattr(settings, name) is not None for name in TUNABLE):
        return None
    base = runtime.resolve(runtime.RuntimeSettings(verbose=settings.verbose))
    if base.gpu_offload and settings.gpu_layers != 0:
        return None  # the measurement covers CPU settings only
    key = key_for(resolved.gguf, base)
    record = lookup(key, max_batch=resolved.gguf.context_length,
                    consequence="the settings are measured again" if enabled(settings) else "the default settings are used")
    if record is None:
        if not enabled(settings):
            return None
        log.info("tuning llama.cpp settings for %s %s on this CPU, once (%s; "
                 "EDGEJUDGE_TUNE=0 or --no-tune skips it, `edgejudge tune` measures longer)",
                 key["architecture"], key["quant"], tuning_notes.expected_duration(records()))
        try:
            record = tune(resolved.path, resolved.gguf, QUICK, base=base)
        except EdgejudgeError as exc:
            log.info("tuning failed (%s); using the default settings", exc.message)
            return None
        log.info("tuned in %.1f s; the choice is kept in %s", record["seconds"], tuning_file())
        store(record)
    chosen = record["choice"].get(workload) or record["choice"]["no_think"]
    chosen = {k: v for k, v in chosen.items() if k in TUNABLE}  # never flash attention (see TUNABLE)
    return {"workload": workload, "settings": chosen, "mode": record["mode"], "key": key_id(key)}


def candidates(base: runtime.RuntimeInfo, plan: Plan) -> list[dict]:
    """The first round: weight repacking off and on (only where it is safe). Flash attention stays
    llama.cpp's "auto", as without tuning (see TUNABLE)."""
    bufts = [False]
    if hardware.decide_extra_bufts(hardware.cpu_flags(), base.system_info, None).enabled:
        bufts.append(True)
    threads = hardware.usable_threads()
    return [{"extra_bufts": b, "threads": threads, "n_batch": 512, "n_ubatch": 512} for b in bufts]


def tune(path: Path, gguf, plan: Plan = QUICK, *, base: runtime.RuntimeInfo | None = None,
         first: list[dict] | None = None, on_figure: Callable[[dict], None] | None = None) -> dict:
    """Measure the candidates, choose per workload, and return the record to store.
    ``on_figure`` is called with each candidate's figure as soon as it is measured."""
    plan.check_fits(gguf)
    base = base or runtime.resolve(runtime.RuntimeSettings())
    first = first if first is not None else candidates(base, plan)
    started = time.time()
    figures = measure(path, base, first, plan, on_figure=on_figure)
    if plan.full:  # second round: threads and micro-batch around each workload's best
        seen = {json.dumps(f["settings"], sort_keys=True) for f in figures}
        physical = hardware.physical_cores()
        more = []
        for best in choose(figures).values():
            variants = [{**best, "n_ubatch": ubatch} for ubatch in (128, 256)]
            if physical and physical != best["threads"]:
                variants.append({**best, "threads": physical})
            for variant in variants:
                if json.dumps(variant, sort_keys=True) not in seen:
                    seen.add(json.dumps(variant, sort_keys=True))
                    more.append(variant)
        figures += measure(path, base, more, plan, on_figure=on_figure)
    return {"key": key_for(gguf, base), "mode": "full" if plan.full else "quick", "measured_at": started,
            "seconds": round(time.time() - started, 2), "model": str(path),
            "plan": {"prompt_tokens": plan.prompt_tokens, "decode_tokens": plan.decode_tokens, "reps": plan.reps},
            "workloads": {k: {"prompt_tokens": p, "decode_tokens": d} for k, (p, d) in WORKLOADS.items()},
            "figures": figures, "choice": choose(figures)}


def choose(figures: list[dict]) -> dict:
    """The candidate with the least estimated seconds per verdict, for each workload."""
    out = {}
    for workload, (p, d) in WORKLOADS.items():
        best = min(figures, key=lambda f: p / f["prompt_tps"] + d / f["decode_tps"])
        out[workload] = dict(best["settings"])
    return out


def measure(path: Path, base: runtime.RuntimeInfo, settings: list[dict], plan: Plan,
            on_figure: Callable[[dict], None] | None = None) -> list[dict]:
    """Prompt and decode rates (tokens/s) for each candidate, measured through the engine.

    The model is loaded once per repacking setting; its candidates take turns rep by rep, and
    the best rep counts: on a shared machine other work only ever slows a run down, so the
    fastest one is the closest to what the setting can do.
    """
    from edgejudge.backends.llama.engine import Engine

    out = []
    for bufts in sorted({s["extra_bufts"] for s in settings}):
        group = [s for s in settings if s["extra_bufts"] == bufts]
        model = runtime.LoadedModel(path, replace(base, extra_bufts=bufts, tuned=None))
        engines = []
        try:
            tokens = _sample_tokens(model, plan.prompt_tokens + plan.decode_tokens)
            for candidate in group:
                model.info = replace(base, tuned=None, **candidate)  # read when the context is made
                engines.append(Engine(model))
                engines[-1].reserve(len(tokens) + 8)
                engines[-1].feed(tokens[:4])  # first-touch costs belong to no candidate
            rates: list[tuple[list[float], list[float]]] = [([], []) for _ in group]
            for _ in range(plan.reps):
                for engine, (prompt, decode) in zip(engines, rates):
                    p, d = _time(engine, tokens, plan)
                    prompt.append(p)
                    decode.append(d)
            for candidate, (prompt, decode) in zip(group, rates):
                out.append({"settings": candidate, "prompt_tps": round(max(prompt), 2),
                            "decode_tps": round(max(decode), 2), "prompt_tps_all": [round(x, 2) for x in prompt],
                            "decode_tps_all": [round(x, 2) for x in decode]})
                if on_figure is not None:
                    on_figure(out[-1])
        finally:
            for engine in engines:
                engine.close()
            model.close()
    return out


def _sample_tokens(model: runtime.LoadedModel, n: int) -> list[int]:
    # one tokenization of enough copies (each copy is at least one token), not one per copy
    copies = n // max(1, len(model.tokenize(SAMPLE_TEXT)) - 1) + 2
    tokens = model.tokenize(SAMPLE_TEXT * copies)
    while len(tokens) < n:
        copies *= 2
        tokens = model.tokenize(SAMPLE_TEXT * copies)
    return tokens[:n]


def _time(engine, tokens: list[int], plan: Plan) -> tuple[float, float]:
    engine.truncate(0)
    t0 = time.perf_counter()
    engine.feed(tokens[: plan.prompt_tokens])
    t1 = time.perf_counter()
    for token in tokens[plan.prompt_tokens:]:
        engine.append([token])
    t2 = time.perf_counter()
    return plan.prompt_tokens / (t1 - t0), plan.decode_tokens / (t2 - t1)


def describe(record: dict | None) -> dict | None:
    """A tuning record as ``doctor`` shows it."""
    if record is None:
        return None
    return {"mode": record["mode"], "measured_at": record["measured_at"], "choice": record["choice"],
            "figures": [{**f["settings"], "prompt_tps": f["prompt_tps"], "decode_tps": f["decode_tps"]}
                        for f in record["figures"]]}


def tune_model(ref: str | None, plan: Plan = FULL, on_figure: Callable[[dict], None] | None = None) -> dict:
    """``edgejudge tune``: measure the model's key now, store the record and return it."""
    from edgejudge.store import resolve

    resolved = resolve.resolve(ref)
    plan.check_fits(resolved.gguf)
    record = tune(resolved.path, resolved.gguf, plan, on_figure=on_figure)
    store(record)
    return record


def format_text(record: dict) -> str:
    """The figures as a table for people, the chosen rows marked."""
    chosen: dict[str, list[str]] = {}  # one row can be the choice of both workloads
    for workload, settings in record["choice"].items():
        chosen.setdefault(json.dumps(settings, sort_keys=True), []).append(workload)
    rows = [f"{'repack':<7}{'flash':<6}{'threads':>8}{'batch':>6}{'ubatch':>7}{'prompt t/s':>12}{'decode t/s':>12}  chosen for"]
    for f in record["figures"]:
        s = f["settings"]
        marks = ", ".join(chosen.get(json.dumps(s, sort_keys=True), []))
        rows.append(f"{'on' if s['extra_bufts'] else 'off':<7}{s.get('flash_attn', 'auto'):<6}{s['threads']:>8}{s['n_batch']:>6}"
                    f"{s['n_ubatch']:>7}{f['prompt_tps']:>12.1f}{f['decode_tps']:>12.1f}  {marks}")
    return "\n".join(rows)
