"""The quantization ladder of one registered model, with a manifest beside the files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edgejudge.convert.quantize import LADDER, quantize
from edgejudge.convert.writer import Provenance, convert
from edgejudge.files import write_atomic
from edgejudge.store import registry
from edgejudge.store.disk import file_sha256

MANIFEST = "manifest.json"


def provenance_for(spec: registry.ModelSpec) -> Provenance:
    return Provenance(model_id=spec.id, name=spec.name, family=spec.family, repo=spec.repo,
                      revision=spec.revision or "", license=spec.license, pre_tokenizer=spec.pre_tokenizer,
                      architecture=spec.architecture)


def build_ladder(model_id: str, src: str | Path, out_dir: str | Path, *, types: Sequence[str] = LADDER,
                 outtype: str = "bf16", threads: int | None = None,
                 log: Callable[[str], None] = lambda line: None) -> dict:
    """Convert ``src`` for ``model_id`` to ``outtype``, quantize it to each of ``types`` and write
    ``manifest.json`` (file, quant, size, sha256, source) in ``out_dir``. Returns the manifest."""
    spec = registry.load().get(model_id)
    out_dir = Path(out_dir)
    base = out_dir / f"{spec.id}-{outtype.upper()}.gguf"
    started = time.perf_counter()
    convert(src, base, outtype=outtype, provenance=provenance_for(spec))
    log(f"converted {src} to {base.name} in {time.perf_counter() - started:.1f} s")
    entries = [_entry(base, outtype.upper(), None)]
    for qtype in types:
        target = out_dir / f"{spec.id}-{qtype}.gguf"
        result = quantize(base, target, qtype, threads=threads)
        log(f"quantized to {qtype} in {result.seconds:.1f} s ({result.size / 2**20:.1f} MiB)")
        entries.append(_entry(target, qtype, result.seconds))
    manifest = {
        "model": spec.id,
        "source": {"repo": spec.repo, "revision": spec.revision, "path": str(Path(src).resolve())},
        "files": entries,
    }
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    return manifest


def _entry(path: Path, quant: str, seconds: float | None) -> dict:
    entry = {"file": path.name, "quant": quant, "size": path.stat().st_size, "sha256": file_sha256(path)}
    if seconds is not None:
        entry["quantize_seconds"] = round(seconds, 2)
    return entry
