"""What a ``Judge`` is built from: the format of a model file, the workload its tuned settings are
chosen for, and the description of a model a remote server serves."""

from __future__ import annotations

from dataclasses import dataclass

from edgejudge.backends.llama import runtime
from edgejudge.formats import Format
from edgejudge.formats.reward import format_class
from edgejudge.store import registry, resolve


def make_format(resolved: resolve.ResolvedModel, model: runtime.LoadedModel | None = None) -> Format:
    """The judge format for a model: its registry family (or the GGUF's edgejudge.family)."""
    spec = resolved.spec
    template = resolved.gguf.get("tokenizer.chat_template")
    bos = eos = ""
    if model is not None:
        bos = model.piece(model.bos).decode("utf-8", "replace") if model.bos >= 0 else ""
        eos = model.piece(model.eos).decode("utf-8", "replace") if model.eos >= 0 else ""
    return format_class(resolved.family).of_model(
        resolved.family, spec, chat_template=template if isinstance(template, str) else None,
        bos=bos, eos=eos, model_id=resolved.id)


def make_engine(resolved: resolve.ResolvedModel, model: runtime.LoadedModel, *, min_ctx: int = 0):
    """The engine for a local model: a reward model's pooled-embedding engine, or the judges' one."""
    if resolved.family == "reward":
        from edgejudge.backends.llama.reward import RewardEngine, head_of

        weight = head_of(resolved.gguf, int(runtime.llama().llama_model_n_embd(model.ptr)))
        return RewardEngine(model, weight, min_ctx=min_ctx)
    from edgejudge.backends.llama.engine import Engine

    return Engine(model, min_ctx=min_ctx)


def default_workload(resolved) -> str:
    """The family's default mode: decode-heavy when it reasons before its verdict."""
    from edgejudge.formats import spec

    try:
        fam = spec.load(resolved.family).family
    except Exception:  # noqa: BLE001 - an unknown family fails later, with its own message
        return "no_think"
    return "think" if fam.think and fam.think_budget > 0 else "no_think"


@dataclass(frozen=True)
class RemoteModel:
    """A judge served by a remote server: its registry entry (or none) and the server's identity."""

    id: str
    quant: str | None
    spec: registry.ModelSpec | None
    family: str
    server: dict

    def describe(self) -> dict:
        return {"id": self.id, "quant": self.quant, "sha256": None, "family": self.family, **self.server}
