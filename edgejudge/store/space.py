"""What a ``pull`` will download and write, said before it starts and checked against free disk.

A pull fills two places that may be two disks: the Hugging Face cache (the download) and the model
store (for a judge with no published GGUF: the BF16 conversion, deleted at the end, and the
quantized file beside it). Sizes not yet known exactly are the registry's estimates
(:mod:`.sizing`); what the cache already holds of the repository (an earlier, interrupted pull)
is not downloaded again, so it is not asked for again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgejudge.errors import DiskSpaceError
from edgejudge.store import registry, sizing

MARGIN = 256 * 2**20  # headroom for manifests, tokenizers, metadata, and the estimates' error


@dataclass(frozen=True)
class Need:
    """``bytes`` to be written under ``where`` for ``what``."""

    what: str
    where: Path
    bytes: int | None  # None: not known before the download (no shape in the registry)


def gib(n: int | None) -> str:
    return "an unknown size" if n is None else f"{n / 2**30:,.1f} GiB" if n >= 2**28 else f"{n / 2**20:,.0f} MiB"


def hub_cache(cache_dir: str | None) -> Path:
    """huggingface_hub's cache folder, as it will choose it (``HF_HUB_CACHE``, ``HF_HOME``/hub, default)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                                                     "huggingface")
    return Path(home).expanduser() / "hub"


def cached_bytes(cache: Path, repo: str) -> int:
    """Bytes the cache already holds of ``repo`` (whole files and resumable partial ones)."""
    blobs = cache / f"models--{repo.replace('/', '--')}" / "blobs"
    total = 0
    try:
        for entry in os.scandir(blobs):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0
    return total


def _existing(path: Path) -> Path:
    """``path`` or the nearest folder above it that exists (where it would be created)."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")


def free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return None


def _device(path: Path) -> int | None:
    try:
        return _existing(path).stat().st_dev
    except OSError:
        return None


def needs(spec: registry.ModelSpec, quant: str, file: registry.ModelFile, cache: Path,
          store: Path) -> tuple[list[Need], int | None, int]:
    """What pulling ``spec``'s ``quant`` writes where, the download's full size, and how much of it
    the cache already holds."""
    if file.kind == "hf":
        size, _ = sizing.file_bytes(spec, quant)
        repo = file.origin
    else:
        size, _ = sizing.download_bytes(spec)
        repo = spec.repo
    held = cached_bytes(cache, repo)
    out = [Need("download", cache, None if size is None else max(0, size - held))]
    if file.kind == "convert":
        bf16 = spec.shape.parameters * 2 if spec.shape is not None else None
        if quant.upper() != "BF16":
            out.append(Need("BF16 conversion, deleted at the end", store, bf16))
        out.append(Need(f"{quant.upper()} file", store, sizing.file_bytes(spec, quant)[0]))
    elif _device(cache) != _device(store) and size is not None:
        out.append(Need("copy into the store (another disk than the cache)", store, size))
    return out, size, held


def check(wanted: list[Need]) -> list[tuple[Path, int, int | None, bool]]:
    """Each disk's total need against its free space; :class:`DiskSpaceError` when one is short.
    Returns (a folder on the disk, bytes needed, bytes free, whether some size is unknown, so
    that more may be needed) per disk."""
    disks: dict[object, list[Need]] = {}
    for need in wanted:
        if need.bytes != 0:
            disks.setdefault(_device(need.where) or str(need.where), []).append(need)
    out = []
    for group in disks.values():
        total = sum(n.bytes or 0 for n in group) + MARGIN
        free = free_bytes(group[0].where)
        out.append((group[0].where, total, free, any(n.bytes is None for n in group)))
        if free is not None and free < total:
            parts = " + ".join(f"{gib(n.bytes)} for the {n.what} in {n.where}" for n in group)
            raise DiskSpaceError(
                f"not enough free disk: this pull needs about {gib(total)} on the disk of {group[0].where} "
                f"({parts}, and {gib(MARGIN)} to spare), which has {gib(free)} free",
                hint="free some space, or point HF_HOME (the download) or EDGEJUDGE_HOME (the model store) "
                     "at a disk with room; nothing was downloaded")
    return out
