"""``edgejudge models``: registered and imported models, which of their files are installed, and
whether this machine can run them (download, file size and memory per quant; see ``sizing``)."""

from __future__ import annotations

import logging

from edgejudge.errors import EdgejudgeError
from edgejudge.store import inventory, registry, resolve, sizing


def rows() -> list[dict]:
    reg = registry.load()
    memory = sizing.machine_memory()
    out = []
    for spec in reg.models.values():
        installed: list[dict] = []
        for quant, file in spec.files.items():
            try:
                path = resolve.locate(spec, quant, file)
            except EdgejudgeError:
                continue
            installed.append({"quant": quant, "path": str(path), "size": path.stat().st_size})
        n_ctx = sizing.typical_context(spec)
        kv = sizing.kv_cache_bytes(spec, n_ctx)
        download, what = sizing.download_bytes(spec)
        on_disk = {entry["quant"]: entry for entry in installed}
        quants = {}
        for quant in spec.files:
            size, exact = sizing.file_bytes(spec, quant)
            if quant in on_disk:
                size, exact = on_disk[quant]["size"], True
            needed = sizing.memory_bytes(size, kv)
            quants[quant] = {"file_bytes": size, "exact": exact, "memory_bytes": needed,
                             "fits": sizing.fits(needed, memory), "installed": quant in on_disk,
                             "measured": sizing.tuned_figures(spec.id, quant)}
        out.append({"id": spec.id, "name": spec.name, "family": spec.family, "tasks": list(spec.tasks),
                    "params": spec.params, "quants": list(spec.files), "default_quant": spec.default_quant,
                    "installed": installed, "default": spec.id == reg.default_model,
                    "parameters": spec.shape.parameters if spec.shape else None, "license": spec.license,
                    "download": {"bytes": download, "what": what, "estimate": "BF16" in what},
                    "context": n_ctx, "think_budget": spec.think_budget, "kv_cache_bytes": kv,
                    "sizes": quants, "machine_memory": memory})
    for model_id in inventory.stored_models():
        if model_id in reg.models:
            continue
        try:
            files = inventory.read_manifest(model_id)["files"]
        except EdgejudgeError as exc:  # listed, not fatal: edgejudge verify and rm deal with it
            logging.getLogger("edgejudge").warning("skipping %s: %s", model_id, exc.message)
            continue
        out.append({"id": model_id, "name": "(imported)", "family": "", "tasks": [], "params": "",
                    "quants": list(files), "default_quant": "", "default": False,
                    "installed": [{"quant": q, "path": str(inventory.stored_path(model_id, q)), "size": e["size"]}
                                  for q, e in files.items()],
                    "parameters": None, "download": None, "context": None, "think_budget": None,
                    "kv_cache_bytes": None, "machine_memory": memory,
                    "sizes": {q: {"file_bytes": e["size"], "exact": True, "memory_bytes": None, "fits": None,
                                  "installed": True, "measured": sizing.tuned_figures(model_id, q)}
                              for q, e in files.items()}})
    return out


def _fits(value: bool | None) -> str:
    return {True: "fits", False: "does NOT fit", None: "fit unknown"}[value]


def _size(entry: dict, key: str) -> str:
    return sizing.human(entry[key], estimate=not entry["exact"])


def _machine_line(memory: dict) -> str:
    if memory["total"] is None:
        return "this machine: memory size unknown"
    line = f"this machine: {sizing.human(memory['total'])} of memory"
    if memory["available"] is not None:
        line += f" ({sizing.human(memory['available'])} available now)"
    return line


def _focus(row: dict) -> str:
    """The quant a model's summary line describes: an installed one, else its default."""
    return row["installed"][0]["quant"] if row["installed"] else row["default_quant"]


def table(rows: list[dict]) -> str:
    lines = [f"{'id':<24} {'family':<9} {'size':<5} {'quants (* installed)':<44} tasks"]
    for row in rows:
        have = {entry["quant"] for entry in row["installed"]}
        quants = " ".join(q + ("*" if q in have else "") for q in row["quants"])
        name = row["id"] + (" (default)" if row["default"] else "")
        lines.append(f"{name:<24} {row['family']:<9} {row['params']:<5} {quants:<44} {', '.join(row['tasks'])}")
        quant = _focus(row)
        entry = row["sizes"].get(quant)
        if entry is None:
            continue
        parts = []
        if row["download"] is not None and not row["installed"]:
            download = row["download"]
            parts.append(f"download {sizing.human(download['bytes'], estimate=download['estimate'])} "
                         f"({download['what']})")
        detail = f"{quant}: file {_size(entry, 'file_bytes')}"
        if entry["memory_bytes"] is not None:
            detail += (f", memory {sizing.human(entry['memory_bytes'], estimate=not entry['exact'])} "
                       f"at {row['context']:,} tokens: {_fits(entry['fits'])}")
        parts.append(detail)
        if entry["measured"]:
            parts.append("measured here: " + ", ".join(f"{k} {v}" for k, v in entry["measured"].items()))
        lines.append("    " + "; ".join(parts))
    lines.append("")
    lines.append(_machine_line(rows[0]["machine_memory"] if rows else sizing.machine_memory()))
    lines.append("≈ marks an estimate (parameters × the quant's bits per weight); memory = the weights + the KV "
                 "cache at that context, plus llama.cpp's buffers (tens to hundreds of MiB). "
                 "`edgejudge models ID` lists every quant.")
    return "\n".join(lines)


def detail(row: dict) -> str:
    """Every quant of one model: file size, memory, whether it fits, where it is installed."""
    head = f"{row['id']}: {row['name']}"
    if row["family"]:
        head += f" ({row['family']}"
        head += f"; {row['parameters']:,} parameters)" if row["parameters"] else ")"
    lines = [head]
    if row["download"] is not None:
        download = row["download"]
        line = f"download: {sizing.human(download['bytes'], estimate=download['estimate'])} ({download['what']})"
        if download["what"].startswith("checkpoint"):
            line += "; converted and quantized here (the BF16 intermediate needs as much disk again meanwhile)"
        lines.append(line)
    if row["context"] is not None:
        lines.append(f"context: {row['context']:,} tokens (a {sizing.ITEM_TOKENS:,}-token item + think budget "
                     f"{row['think_budget']:,}); KV cache {sizing.human(row['kv_cache_bytes'])}")
    measured = any(e["measured"] for e in row["sizes"].values())
    lines.append(f"{'quant':<9} {'file':<11} {'memory':<11} {'fits':<5} installed" + ("   measured here" if measured else ""))
    paths = {entry["quant"]: entry["path"] for entry in row["installed"]}
    for quant, entry in row["sizes"].items():
        fits = {True: "yes", False: "NO", None: "?"}[entry["fits"]]
        memory = sizing.human(entry["memory_bytes"], estimate=not entry["exact"]) if entry["memory_bytes"] else "?"
        line = f"{quant:<9} {_size(entry, 'file_bytes'):<11} {memory:<11} {fits:<5} {paths.get(quant, '-')}"
        if entry["measured"]:
            line += "   " + ", ".join(f"{k} {v}" for k, v in entry["measured"].items())
        lines.append(line)
    lines.append(_machine_line(row["machine_memory"]))
    return "\n".join(lines)
