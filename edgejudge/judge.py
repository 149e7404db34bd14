"""The Python API: ``Judge`` loads a model once and turns items into verdicts.

    from edgejudge import Judge

    with Judge.load("smollm2-135m") as judge:
        v = judge.pairwise("What is 2+2?", "4", "5")
        print(v.verdict, v.probabilities)

The CLI and the JSONL stream are thin loops around :meth:`Judge.judge`. One ``Judge`` may be
shared by several threads: calls are serialised on the model (llama.cpp contexts are not
thread-safe), so concurrency buys nothing on one model but costs nothing in correctness.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, replace
from collections.abc import Mapping

from edgejudge import __version__, items, runtime, store, verdict
from edgejudge.engine import Engine
from edgejudge.formats import Format, JudgeOptions
from edgejudge.formats.generic import GenericFormat
from edgejudge.items import Item
from edgejudge.registry import Sampling


def make_format(resolved: store.ResolvedModel, model: runtime.LoadedModel | None = None) -> Format:
    """The judge format for a model, from the registry (or the GGUF's metadata for a bare file)."""
    family = resolved.family
    sampling = resolved.spec.sampling if resolved.spec else Sampling()
    if family == "generic":
        template = resolved.gguf.get("tokenizer.chat_template")
        bos = eos = ""
        if model is not None:
            bos = model.piece(model.bos).decode("utf-8", "replace") if model.bos >= 0 else ""
            eos = model.piece(model.eos).decode("utf-8", "replace") if model.eos >= 0 else ""
        return GenericFormat(template if isinstance(template, str) else None, bos_token=bos, eos_token=eos,
                             sampling=sampling)
    raise NotImplementedError(f"the {family} format is not available yet")


class Judge:
    """A loaded judge model with its format and engine."""

    def __init__(self, resolved: store.ResolvedModel, model: runtime.LoadedModel, info: runtime.RuntimeInfo,
                 *, min_ctx: int = 0):
        self.resolved = resolved
        self.model = model
        self.info = info
        self.format = make_format(resolved, model)
        self.engine = Engine(model, min_ctx=min_ctx)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str | None = None, *, settings: runtime.RuntimeSettings | None = None,
             min_ctx: int = 0, **runtime_overrides) -> Judge:
        """Resolve ``model`` (id, ``id:quant`` or path), validate the file and load it."""
        resolved = store.resolve(model)
        settings = settings or runtime.RuntimeSettings.from_env(**runtime_overrides)
        info = runtime.resolve(settings)
        loaded = runtime.LoadedModel(resolved.path, info)
        return cls(resolved, loaded, info, min_ctx=min_ctx)

    # -- judging ---------------------------------------------------------------------------

    def provenance(self, item: Item, options: JudgeOptions) -> dict:
        sampling = options.sampling or getattr(self.format, "sampling", Sampling())
        return {
            "edgejudge": __version__,
            "llama_cpp_python": self.info.llama_cpp_python,
            "llama_cpp": self.info.llama_cpp,
            "format": f"{self.format.family}/{item.task}",
            "template_sha256": self.format.template_sha256(),
            "seed": options.seed,
            "sampling": asdict(sampling),
            "runtime": {
                "threads": self.info.threads,
                "gpu_layers": self.info.gpu_layers,
                "extra_bufts": self.info.extra_bufts,
                "flash_attn": self.info.flash_attn,
            },
        }

    def judge(self, item: Item | Mapping, options: JudgeOptions | None = None, **option_overrides) -> verdict.Verdict:
        """Judge one item (an :class:`Item` or a JSONL-style dict)."""
        if not isinstance(item, Item):
            item = items.make_item(item)
        options = replace(options or JudgeOptions(), **option_overrides)
        plan = self.format.plan(item, options)
        with self._lock:
            outcome = self.engine.run(plan, seed=options.seed)
        decision = self.format.decide(item, outcome, options)
        return verdict.make(item, decision, outcome, self.resolved.describe(), self.provenance(item, options))

    def pairwise(self, prompt: str, response_a: str, response_b: str, *, rubric: str | None = None,
                 **options) -> verdict.Verdict:
        record = {"task": "pairwise", "prompt": prompt, "response_a": response_a, "response_b": response_b,
                  "rubric": rubric}
        return self.judge(items.make_item(record), **options)

    def pointwise(self, prompt: str, response: str, *, scale=items.DEFAULT_SCALE, rubric: str | None = None,
                  **options) -> verdict.Verdict:
        record = {"task": "pointwise", "prompt": prompt, "response": response, "scale": list(scale),
                  "rubric": rubric}
        return self.judge(items.make_item(record), **options)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self.engine.close()
            self.model.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
