"""Carrying a judge to a machine without internet: ``export`` on one machine, ``import`` on the other.

``export ID[:QUANT] -o FILE`` copies an installed, validated GGUF to ``FILE`` and writes a manifest
beside it, ``FILE.json`` (a sidecar: the GGUF's bytes stay exactly those that were verified)::

    {"edgejudge_export": 1, "id": "mr3-qwen3-4b", "quant": "Q4_K_M", "file": "FILE's name",
     "size": …, "sha256": "…", "family": "mr3", "source": "converted from hf:…@… by edgejudge",
     "edgejudge": "0.1.0"}

``import FILE`` then needs no ``--as``: it reads the sidecar, checks the file's sha256 against it
(and against the registry where the registry pins one) and installs it under the same id and quant.
Both steps write under temporary names and rename when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from edgejudge import __version__, outputs
from edgejudge.errors import ModelFileError, ModelNotFound, UsageError
from edgejudge.store import inventory, registry, resolve

FORMAT = 1


def sidecar_path(gguf: Path) -> Path:
    """Where the manifest of an exported GGUF lives: ``FILE.json`` beside ``FILE``."""
    gguf = Path(gguf)
    return gguf.with_name(gguf.name + ".json")


@dataclass(frozen=True)
class Exported:
    """An exported judge: the GGUF, its manifest file, and what the manifest says."""

    path: Path
    manifest_path: Path
    manifest: dict


def export_model(ref: str, dest: Path) -> Exported:
    """Copy the installed ``ID[:QUANT]`` to ``dest`` with its manifest beside it."""
    if resolve.looks_like_path(ref):
        raise UsageError(f"{ref} is a file already: export takes an installed judge's ID[:QUANT]",
                         hint="copy the file, and on the other machine: edgejudge import FILE --as ID:QUANT")
    dest = Path(dest)
    if dest.suffix != ".gguf":
        raise UsageError(f"{dest}: the exported file's name must end in .gguf", hint="e.g. -o judge.gguf")
    resolve.installed(ref)  # a judge not installed here is said first, with how to get it
    # Both outputs are checked before the (long) copy starts (edgejudge.outputs).
    target = outputs.target(dest, what="-o")
    manifest_target = outputs.target(sidecar_path(dest), what="-o (its manifest)", others=[target])
    resolved = resolve.resolve(ref)  # validated, and its sha256 checked against the registry/manifest
    target.recheck([resolved.path])
    manifest_target.recheck([resolved.path])
    digest = _copy(resolved.path, target, resolved.sha256)
    manifest = {
        "edgejudge_export": FORMAT,
        "id": resolved.id,
        "quant": resolved.quant,
        "file": dest.name,
        "size": target.path.stat().st_size,
        "sha256": digest,
        "family": resolved.family,
        "source": _source_of(resolved),
        "edgejudge": __version__,
    }
    manifest_target.write(json.dumps(manifest, indent=2).encode() + b"\n", inputs=[resolved.path])
    return Exported(dest, sidecar_path(dest), manifest)


def _source_of(resolved: resolve.ResolvedModel) -> str:
    entry = inventory.read_manifest(resolved.id)["files"].get(resolved.quant)
    if entry and entry.get("source"):
        return entry["source"]
    if resolved.spec is not None:
        return resolved.spec.file(resolved.quant).source
    return "unknown"


def _copy(src: Path, target: outputs.Target, expected: str) -> str:
    """Copy ``src`` over the target (atomically) if its sha256 is still ``expected`` (what was
    verified); else the target is left as it was."""
    digest = hashlib.sha256()
    with target.replacing(inputs=[src]) as tmp:
        with open(src, "rb") as reader, open(tmp, "wb") as writer:
            while chunk := reader.read(1 << 22):
                digest.update(chunk)
                writer.write(chunk)
        if digest.hexdigest() != expected:
            raise ModelFileError(f"{src} changed while it was exported (sha256 {digest.hexdigest()[:16]}…)",
                                 hint="run edgejudge verify ID, then export again")
    return digest.hexdigest()


def read_sidecar(gguf: Path) -> dict | None:
    """The manifest written by ``export`` beside ``gguf``, validated; None when there is none."""
    from edgejudge import state_files

    path = sidecar_path(gguf)
    read = state_files.read_state_json(path)  # a FIFO, a device or 100,000 nested [ are refused, not read
    if read.missing:
        return None
    if read.problem:
        raise ModelFileError(f"{path} is not a readable export manifest: it {read.problem}",
                             hint="export the judge again, or import with --as ID:QUANT")
    data = read.value
    if not isinstance(data, dict) or data.get("edgejudge_export") != FORMAT:
        raise ModelFileError(f"{path} is not an edgejudge export manifest",
                             hint="import with --as ID:QUANT, or remove that file")
    for key in ("id", "quant", "sha256"):
        if not isinstance(data.get(key), str):
            raise ModelFileError(f"{path}: the manifest has no {key!r}", hint="export the judge again")
    inventory.check_name(data["id"], data["quant"])
    return data


def import_file(source: Path, ref: str | None = None) -> Path:
    """Install a local GGUF in the store: as ``ref`` (ID:QUANT), or as its export manifest says."""
    source = Path(source)
    if not os.path.lexists(source):  # before the manifest: a missing file is not a missing manifest
        raise ModelNotFound(f"no file at {source}",
                            hint="check the path; on a machine that has the judge, edgejudge export ID -o FILE "
                                 "writes the file and its manifest (docs/offline.md)")
    sidecar = read_sidecar(source) if source.is_file() else None
    if ref is None:
        if sidecar is None:
            raise UsageError(f"{source} has no export manifest ({sidecar_path(source).name}) beside it, "
                             "so its id and quant are unknown",
                             hint="give them: edgejudge import FILE --as ID:QUANT")
        model_id, quant = sidecar["id"], sidecar["quant"]
    else:
        model_id, quant = resolve.split_ref(ref)
        if not quant:
            raise UsageError("--as needs ID:QUANT, e.g. --as mr3-qwen3-4b:Q4_K_M")
    inventory.check_name(model_id, quant)
    expected = []
    filename = source.name
    spec = registry.load().models.get(model_id)
    if spec is not None:
        file = spec.file(quant)
        quant, filename = spec.quant_name(quant), file.filename
        expected.append(file.sha256)
    origin = f"imported from {source.resolve()}"
    if sidecar is not None and (model_id, quant) == (sidecar["id"], sidecar["quant"]):
        expected.append(sidecar["sha256"])
        origin += f"; exported by edgejudge {sidecar.get('edgejudge', '?')} from: {sidecar.get('source', 'unknown')}"
    pinned = {e for e in expected if e}
    if len(pinned) > 1:
        raise ModelFileError(f"{source}: its export manifest and the registry disagree on {model_id}:{quant}'s sha256",
                             hint="the file was built from another revision; import it under another id with --as")
    return inventory.install(source, model_id, quant, source=origin, filename=filename,
                             expected_sha256=pinned.pop() if pinned else None)
