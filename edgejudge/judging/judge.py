"""The Python API: ``Judge`` loads a model once and turns items into verdicts.

    from edgejudge import Judge

    with Judge.load("smollm2-135m") as judge:
        v = judge.pairwise("What is 2+2?", "4", "5")
        print(v.verdict, v.probabilities)

The CLI and the JSONL stream are thin loops around :meth:`Judge.judge`. One ``Judge`` may be
shared by several threads: calls are serialised on the model (a llama.cpp context is not
thread-safe), so concurrency buys nothing on one model but costs nothing in correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from edgejudge import items
from edgejudge.backends.llama import prefix_cache, runtime, tuning
from edgejudge.errors import InputError, UsageError
from edgejudge.formats import Decision, Format, JudgeOptions
from edgejudge.items import Item
from edgejudge.judging import variants, verdict
from edgejudge.judging.build import RemoteModel, default_workload, make_engine, make_format
from edgejudge.plan import Outcome
from edgejudge.store import registry, resolve
from edgejudge.version import __version__


class Judge:
    """A judge model with its format and engine (local llama.cpp, or a remote server)."""

    def __init__(self, resolved, model: runtime.LoadedModel | None, info: runtime.RuntimeInfo | None,
                 *, min_ctx: int = 0, settings: runtime.RuntimeSettings | None = None,
                 engine=None, fmt: Format | None = None):
        self.resolved = resolved
        self.model = model
        self.info = info
        self.settings = settings
        self.format = fmt or make_format(resolved, model)
        # A remote judge brings its engine; a local one has a loaded model.
        self.engine: Any = engine or make_engine(resolved, model, min_ctx=min_ctx)  # type: ignore[arg-type]
        # A llama.cpp context is not thread-safe: calls are serialised. A remote server takes
        # concurrent requests, so a remote judge does not serialise.
        self._lock = threading.RLock() if model is not None else contextlib.nullcontext()
        self._state_lock = threading.RLock()
        self._companion: Judge | None = None
        self._rubrics: dict[str, str] = {}
        self._remote = None
        self.calibration: Any = None  # an edgejudge.trust.store.Applier: stored calibrations (set by load)

    @classmethod
    def load(cls, model: str | None = None, *, settings: runtime.RuntimeSettings | None = None,
             min_ctx: int = 0, workload: str | None = None, calibration: bool = True,
             **runtime_overrides) -> Judge:
        """Resolve ``model`` (id, ``id:quant`` or path), validate the file and load it.

        ``workload`` ("think" or "no_think") picks which tuned settings apply; by default the
        family's own mode. Stored calibrations (``edgejudge calibrate``) apply to its verdicts
        unless ``calibration=False``."""
        resolved = resolve.resolve(model)
        settings = settings or runtime.RuntimeSettings.from_env(**runtime_overrides)
        info = runtime.resolve(settings, tuning.choice_for(resolved, settings, workload or default_workload(resolved)))
        loaded = runtime.LoadedModel(resolved.path, info)
        judge = cls(resolved, loaded, info, min_ctx=min_ctx, settings=settings)
        if settings.prefix_cache is not False:
            judge.engine.prefix_store = prefix_cache.PrefixCache(resolved.sha256)
        if calibration:
            from edgejudge.trust.store import Applier

            judge.calibration = Applier(judge)
        return judge

    @property
    def tasks(self) -> tuple[str, ...]:
        """What this model does: its registry entry's tasks, else everything its format does."""
        spec = self.resolved.spec
        return spec.tasks if spec is not None else self.format.tasks

    @classmethod
    def remote(cls, model: str | None, remote_settings) -> Judge:
        """A judge whose plans run on an OpenAI-compatible server (llama-server, vLLM): ``model``
        names the judge (a registered id, or a local GGUF for its chat template), for the format."""
        from edgejudge.backends.remote import RemoteEngine
        from edgejudge.judging import prompts

        found = resolve.target(model or registry.load().default_model)
        fmt = prompts.format_for(found.ref)
        if fmt.family == "reward":
            raise UsageError(f"{found.ref} is a scalar reward model, which runs locally only: an OpenAI-compatible "
                             "server returns no hidden state to apply its score head to",
                             hint="drop --backend remote (edgejudge runs it with llama.cpp in this process)")
        spec = found.spec
        engine = RemoteEngine(remote_settings)
        resolved = RemoteModel(found.id if spec else found.ref, found.quant, spec, fmt.family, engine.describe())
        judge = cls(resolved, None, None, engine=engine, fmt=fmt)
        judge._remote = remote_settings
        return judge

    # -- judging ---------------------------------------------------------------------------

    def provenance(self, item: Item, options: JudgeOptions) -> dict:
        sampling = options.sampling or self.format.sampling
        if self.info is None:
            backend = self.engine.describe()
            versions: dict[str, str | None] = {"llama_cpp_python": None, "llama_cpp": None}
        else:
            backend = {"backend": "local", "threads": self.info.threads, "gpu_layers": self.info.gpu_layers,
                       "extra_bufts": self.info.extra_bufts, "flash_attn": self.info.flash_attn,
                       "n_batch": self.info.n_batch, "n_ubatch": self.info.n_ubatch,
                       "tuned": self.info.tuned is not None, "numerics": self.info.numerics_key}
            versions = {"llama_cpp_python": self.info.llama_cpp_python, "llama_cpp": self.info.llama_cpp}
        # Which of mR3's rubric variants the prompt used, when not the default (formats/rubrics.py).
        variant = item.rubric_variant if item.rubric_variant is not None else options.rubric_variant
        rubric = {"rubric_variant": variant} if variant else {}
        return {
            "edgejudge": __version__,
            **versions,
            "format": f"{self.format.family}/{item.task}",
            "template_sha256": self.format.template_sha256(),
            "seed": options.seed,
            "sampling": asdict(sampling),
            "think_budget": self._budget(options),
            # What decides where reasoning may stop (docs/anytime.md); eval derives other P from it.
            "anytime": {"think_until": options.think_until, "min_think": options.min_think,
                        "probe_every": options.probe_every},
            "runtime": backend,
            **rubric,
        }

    def _budget(self, options: JudgeOptions) -> int | str | None:
        try:
            return self.format.budget(options)
        except InputError:
            return options.think_budget  # "authors" where they are unknown: the items say why

    def _run(self, item: Item, options: JudgeOptions) -> tuple[Decision, Outcome]:
        plan = self.format.plan(item, options)
        with self._lock:
            outcome = self.engine.run(plan, seed=options.seed)
        return self.format.decide(item, outcome, options), outcome

    def judge(self, item: Item | Mapping, options: JudgeOptions | None = None, **option_overrides) -> verdict.Verdict:
        """Judge one item (an :class:`Item` or a JSONL-style dict)."""
        if not isinstance(item, Item):
            item = items.make_item(item)
        options = replace(options or JudgeOptions(), **option_overrides)
        if item.task not in self.tasks:
            raise InputError(f"{self.resolved.id} does not do the task {item.task!r}", code="unsupported_task",
                             hint=f"it does: {', '.join(self.tasks)}")
        self.format.task(item)
        extra = {}
        if self.format.family == "rubricrm" and item.task == "pairwise" and item.rubric is None:
            item = replace(item, rubric=self.rubric_for(item.prompt))
            extra["rubric"] = item.rubric
        if options.rubric_variants is not None:
            decision, outcomes, swap = variants.judge(self.format, item, options, self._judge_once)
        else:
            decision, outcomes, swap = self._judge_once(item, options)
        if extra:
            decision = replace(decision, extra={**decision.extra, **extra})
        made = verdict.make(item, decision, outcomes, self.resolved.describe(), self.provenance(item, options), swap)
        return made if self.calibration is None else self.calibration.apply(item, options, made)

    def _judge_once(self, item: Item, options: JudgeOptions) -> tuple[Decision, list[Outcome], dict | None]:
        """One verdict on ``item`` (both orders with ``swap``), and the engine's outcomes."""
        decision, outcome = self._run(item, options)
        outcomes = [outcome]
        swap = None
        if options.swap:
            if item.task not in items.TWO_RESPONSES:
                raise InputError(f"--swap applies to tasks with two responses, not {item.task!r}", code="bad_value")
            second, outcome2 = self._run(item.swapped(), options)
            outcomes.append(outcome2)
            decision, swap = verdict.combine_swap(item.task, decision, second,
                                                  tie_on_disagreement=options.tie_on_disagreement)
        return decision, outcomes, swap

    def pairwise(self, prompt: str, response_a: str, response_b: str, *, rubric: str | None = None,
                 task: str = "pairwise", **options) -> verdict.Verdict:
        record = {"task": task, "prompt": prompt, "response_a": response_a, "response_b": response_b,
                  "rubric": rubric}
        return self.judge(items.make_item(record), **options)

    def pointwise(self, prompt: str, response: str, *, scale=items.DEFAULT_SCALE, rubric: str | None = None,
                  **options) -> verdict.Verdict:
        record = {"task": "pointwise", "prompt": prompt, "response": response, "scale": list(scale),
                  "rubric": rubric}
        return self.judge(items.make_item(record), **options)

    def score_many(self, records, options: JudgeOptions | None = None, *, concurrency: int = 1,
                   window: int | None = None, **option_overrides):
        """Judge many records (dicts, or JSON lines as str/bytes) and yield one output record each,
        in order: the records ``edgejudge score`` writes, errors included (``status`` ``error``).
        ``concurrency`` > 1 keeps that many items in flight (useful with a remote judge).
        ``window``: items sharing a prompt are evaluated together within this many records
        (default: ``grouping.DEFAULT_WINDOW`` for a list or tuple; 1, input order, for other
        iterables, whose producer may be waiting for the records of what it gave so far)."""
        from collections.abc import Sequence

        from edgejudge.streams import grouping

        if window is None:
            window = grouping.DEFAULT_WINDOW if isinstance(records, Sequence) else 1
        from edgejudge.streams import stream

        scorer = stream.Scorer(self, replace(options or JudgeOptions(), **option_overrides))

        def one(line_no: int, record):
            if isinstance(record, (str, bytes)):
                return scorer.record(record.encode("utf-8") if isinstance(record, str) else record, line_no)
            return scorer.record_value(record, line_no)

        tasks = ((n, lambda n=n, r=r: one(n, r), r) for n, r in enumerate(records, 1))
        if concurrency <= 1 and self.model is not None and window > 1:
            def key(task):
                r = task[2]
                return grouping.key_of_line(r) if isinstance(r, (str, bytes)) else grouping.key_of_value(r)

            yield from grouping.grouped(tasks, key, window)
        else:
            yield from stream.ordered(tasks, concurrency)

    # -- rubrics (RubricRM) -----------------------------------------------------------------

    def rubric_for(self, prompt: str) -> str:
        """The rubric for ``prompt``: this model's own (a rubric generator) or its companion's,
        written once per prompt and cached."""
        key = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
        with self._state_lock:
            cached = self._rubrics.get(key)
        if cached is not None:
            return cached
        if "rubric" in self.tasks:
            rubric = self.judge({"task": "rubric", "prompt": prompt}).extra["rubric"]
        else:
            rubric = self.companion().rubric_for(prompt)
        if not rubric:
            raise InputError("the rubric generator wrote no complete rubric item for this prompt", code="no_rubric",
                             hint="give the rubric with the item (the 'rubric' field)")
        with self._state_lock:
            self._rubrics[key] = rubric
        return rubric

    def companion(self) -> Judge:
        spec = self.resolved.spec
        if spec is None or spec.companion is None:
            raise InputError(f"{self.resolved.id} needs a rubric with each item (it has no rubric generator)",
                             code="missing_field", hint="give the rubric in the 'rubric' field")
        if self._remote is not None:
            raise InputError(f"{self.resolved.id} on a server needs the rubric with each item",
                             code="missing_field", hint="give the rubric in the 'rubric' field (write it with "
                             f"edgejudge rubric -m {spec.companion})")
        with self._state_lock:
            if self._companion is None:
                self._companion = Judge.load(spec.companion, settings=self.settings)
        return self._companion

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock, self._state_lock:
            if self._companion is not None:
                self._companion.close()
                self._companion = None
            self.engine.close()
            if self.model is not None:
                self.model.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
