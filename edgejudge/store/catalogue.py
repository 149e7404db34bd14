"""``edgejudge models``: registered and imported models, and which of their files are installed."""

from __future__ import annotations

import logging

from edgejudge.errors import EdgejudgeError
from edgejudge.store import inventory, registry, resolve


def rows() -> list[dict]:
    reg = registry.load()
    out = []
    for spec in reg.models.values():
        installed = []
        for quant, file in spec.files.items():
            try:
                path = resolve.locate(spec, quant, file)
            except EdgejudgeError:
                continue
            installed.append({"quant": quant, "path": str(path), "size": path.stat().st_size})
        out.append({"id": spec.id, "name": spec.name, "family": spec.family, "tasks": list(spec.tasks),
                    "params": spec.params, "quants": list(spec.files), "default_quant": spec.default_quant,
                    "installed": installed, "default": spec.id == reg.default_model})
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
                                  for q, e in files.items()]})
    return out


def table(rows: list[dict]) -> str:
    lines = [f"{'id':<24} {'family':<9} {'size':<5} {'quants (* installed)':<44} tasks"]
    for row in rows:
        have = {entry["quant"] for entry in row["installed"]}
        quants = " ".join(q + ("*" if q in have else "") for q in row["quants"])
        name = row["id"] + (" (default)" if row["default"] else "")
        lines.append(f"{name:<24} {row['family']:<9} {row['params']:<5} {quants:<44} {', '.join(row['tasks'])}")
    return "\n".join(lines)
