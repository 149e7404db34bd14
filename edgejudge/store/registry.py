"""The registry of supported judges: ``models.toml``, validated into frozen dataclasses.

The file ships inside the package (``edgejudge/store/models.toml``; the checkout's top-level
``models.toml`` is a link to it), so a pip-installed edgejudge knows every judge with no checkout.
``EDGEJUDGE_REGISTRY`` points at another file, for testing a registry change.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from edgejudge import tables
from edgejudge.errors import ModelNotFound, RegistryError

FAMILIES = ("generic", "mr3", "rubricrm", "refiner", "rmr1", "guard", "reward")
TASKS = ("pairwise", "pointwise", "arena", "strength", "binary", "safety", "mcq", "rubric", "refine")
ARCHITECTURES = ("llama", "qwen2", "qwen3", "gemma3")
# Whole-string patterns: use them with fullmatch only ('$' would let a trailing newline through).
ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
QUANT_RE = re.compile(r"[A-Za-z0-9_]{1,16}")
SOURCE_RE = re.compile(r"pypi:[A-Za-z0-9._-]+|hf:[A-Za-z0-9._-]+/[A-Za-z0-9._-]+|convert")


def valid_id(text: str) -> bool:
    """A model id: lower-case letters, digits, '.', '_' and '-', at most 64, not '.' or '..'."""
    return isinstance(text, str) and ID_RE.fullmatch(text) is not None and text not in (".", "..")


def valid_quant(text: str) -> bool:
    """A quant name: letters, digits and '_', at most 16 (Q4_K_M, BF16)."""
    return isinstance(text, str) and QUANT_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class Sampling:
    """Recommended sampler settings for the model's free text (reasoning, explanations)."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0

    def __post_init__(self):
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or not 0 <= self.min_p < 1:
            raise ValueError("temperature >= 0, 0 < top_p <= 1, top_k >= 0 and 0 <= min_p < 1 are required")


@dataclass(frozen=True)
class ModelFile:
    """One GGUF variant (a quantization) of a model, and where it comes from."""

    filename: str
    source: str
    sha256: str | None = None
    size: int | None = None

    def __post_init__(self):
        if not SOURCE_RE.fullmatch(self.source):
            raise ValueError(f"source {self.source!r} must be 'pypi:DIST', 'hf:ORG/REPO' or 'convert'")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        if "/" in self.filename or "\\" in self.filename or self.filename.startswith("."):
            raise ValueError(f"filename {self.filename!r} must be a plain file name")

    @property
    def kind(self) -> str:
        return self.source.partition(":")[0]

    @property
    def origin(self) -> str:
        return self.source.partition(":")[2]


@dataclass(frozen=True)
class Shape:
    """The architecture figures that size a model (from its config.json): the parameter count, and
    what its KV cache holds per token (layers, KV heads, head size); the checkpoint's download size
    where known."""

    parameters: int
    layers: int
    kv_heads: int
    head_dim: int
    checkpoint_bytes: int | None = None

    def __post_init__(self):
        if min(self.parameters, self.layers, self.kv_heads, self.head_dim) < 1:
            raise ValueError("parameters, layers, kv_heads and head_dim must be positive")


@dataclass(frozen=True)
class ModelSpec:
    """A supported judge: where it comes from, how it judges, and its known files."""

    id: str
    name: str
    repo: str
    architecture: str
    family: str
    tasks: tuple[str, ...]
    pre_tokenizer: str
    context_length: int
    license: str
    default_quant: str
    files: Mapping[str, ModelFile]
    revision: str | None = None
    description: str = ""
    params: str = ""
    think_budget: int = 0
    # The authors' own budget (their max new tokens), where a reference states it, and where from;
    # think_budget is edgejudge's default, chosen for what a CPU can afford.
    authors_think_budget: int | None = None
    authors_think_budget_source: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    companion: str | None = None
    shape: Shape | None = None
    vocab_size: int | None = None  # tokens in the model's vocabulary (checked when a file is imported)

    def __post_init__(self):
        if not valid_id(self.id):
            raise ValueError(f"id {self.id!r} must be lower-case letters, digits, '.', '_' or '-'")
        if self.family not in FAMILIES:
            raise ValueError(f"family {self.family!r} is not one of {', '.join(FAMILIES)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        if self.default_quant not in self.files:
            raise ValueError(f"default_quant {self.default_quant!r} has no entry under files")
        for quant in self.files:
            if not valid_quant(quant):
                raise ValueError(f"quant name {quant!r} must be letters, digits and '_'")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"tasks must be a non-empty list of {', '.join(TASKS)} (got {unknown or 'none'})")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ValueError("vocab_size must be a positive number of tokens")
        if self.context_length < 128 or self.think_budget < 0:
            raise ValueError("context_length must be >= 128 and think_budget >= 0")
        if self.authors_think_budget is not None and (self.authors_think_budget < 0 or not self.authors_think_budget_source):
            raise ValueError("authors_think_budget must be >= 0 and needs authors_think_budget_source (where it is stated)")

    def file(self, quant: str | None) -> ModelFile:
        quant = quant or self.default_quant
        for name, spec in self.files.items():
            if name.lower() == quant.lower():
                return spec
        raise ModelNotFound(
            f"{self.id} has no quant {quant!r}",
            hint=f"choose one of {', '.join(self.files)} (edgejudge models lists them)",
        )

    def quant_name(self, quant: str | None) -> str:
        wanted = (quant or self.default_quant).lower()
        return next(name for name in self.files if name.lower() == wanted)


@dataclass(frozen=True)
class Registry:
    """Every registered model, by id, and which one runs when ``-m`` is not given."""

    default_model: str
    models: Mapping[str, ModelSpec]
    schema: int = 1
    path: str = ""

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise ModelNotFound(
                f"unknown model {model_id!r}",
                hint=f"use a registered id ({known}), ID:QUANT, or a path to a .gguf file",
            ) from None


def parse(text: str, source: str) -> Registry:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: not valid TOML: {exc}", hint=f"fix the syntax of {source}") from None
    models_table = data.get("models")
    if not isinstance(models_table, Mapping):
        raise RegistryError(f"{source}: models: required table is missing", hint="add [models.ID] tables")
    models = {}
    for model_id, table in models_table.items():
        models[model_id] = tables.load(ModelSpec, table, f"models.{model_id}", source, extra={"id": model_id})
    registry = tables.load(
        Registry, {k: v for k, v in data.items() if k != "models"}, "", source,
        extra={"models": models, "path": source},
    )
    if registry.schema != 1:
        raise RegistryError(f"{source}: schema: version {registry.schema} is not supported (expected 1)")
    if registry.default_model not in models:
        raise RegistryError(f"{source}: default_model: {registry.default_model!r} is not a model in this file")
    for spec in models.values():
        if spec.companion is not None and spec.companion not in models:
            raise RegistryError(f"{source}: models.{spec.id}.companion: {spec.companion!r} is not a model in this file")
    return registry


@functools.cache
def _load_cached(path: str | None) -> Registry:
    if path:
        from edgejudge.errors import ModelFileError
        from edgejudge.files import open_regular

        fix = "unset EDGEJUDGE_REGISTRY or point it at a models.toml"
        try:
            with open_regular(Path(path)) as handle:  # a FIFO is refused, not waited on
                text = handle.read(16 << 20).decode("utf-8")
        except OSError as exc:
            raise RegistryError(f"cannot read the registry {path}: {exc.strerror}", hint=fix) from None
        except ModelFileError:
            raise RegistryError(f"the registry {path} is not a regular file", hint=fix) from None
        except UnicodeDecodeError as exc:
            raise RegistryError(f"the registry {path} is not UTF-8 text (byte {exc.start})", hint=fix) from None
        return parse(text, path)
    text = resources.files("edgejudge.store").joinpath("models.toml").read_text(encoding="utf-8")
    return parse(text, "models.toml")


def location() -> str:
    """The file the registry is read from: ``$EDGEJUDGE_REGISTRY`` or the packaged ``models.toml``."""
    return os.environ.get("EDGEJUDGE_REGISTRY") or str(resources.files("edgejudge.store").joinpath("models.toml"))


def load() -> Registry:
    """The registry in use: ``$EDGEJUDGE_REGISTRY`` or the packaged ``models.toml``."""
    return _load_cached(os.environ.get("EDGEJUDGE_REGISTRY") or None)
