"""``edgejudge prompt``: the exact prompt for an item, without loading the model's weights.

Registered judges use their family's own rendering, so no file is needed at all; a generic model
(or a bare GGUF) needs only its header, for the chat template.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgejudge.formats import Format, JudgeOptions
from edgejudge.items import Item
from edgejudge.plan import Append, Generate, ReadLabels
from edgejudge.store import gguf_file, registry, resolve


def format_for(model_ref: str | None) -> Format:
    reg = registry.load()
    ref = model_ref or os.environ.get("EDGEJUDGE_MODEL") or reg.default_model
    if resolve.looks_like_path(ref) or Path(ref).is_file():
        info = gguf_file.read(ref)
        family = info.get("edgejudge.family")
        family = family if family in registry.FAMILIES else "generic"
        return Format(family, chat_template=info.get("tokenizer.chat_template"))
    model_id, quant = resolve.split_ref(ref)
    spec = reg.get(model_id)
    template = None
    if spec.family == "generic":
        path = resolve.locate(spec, spec.quant_name(quant), spec.file(quant))
        info = gguf_file.read(path)
        template = info.get("tokenizer.chat_template")
    return Format(spec.family, chat_template=template, sampling=spec.sampling, think_budget=spec.think_budget,
                  authors_think_budget=spec.authors_think_budget, model_id=spec.id)


def unverified(model_ref: str | None, item: Item) -> str:
    """What of ``item``'s prompt cannot be checked against the authors' (one line), or ""."""
    return format_for(model_ref).unverified(item)


def render(model_ref: str | None, item: Item, options: JudgeOptions) -> tuple[str, str]:
    """The prompt text, and the steps after it as JSON (what is appended, generated and read)."""
    fmt = format_for(model_ref)
    plan = fmt.plan(item, options)
    steps: list[dict[str, object]] = []
    for step in plan.steps:
        if isinstance(step, Append):
            steps.append({"append": step.text})
        elif isinstance(step, Generate):
            steps.append({"generate": step.name, "max_tokens": step.max_tokens, "stop": list(step.stop),
                          "close": step.close, "grammar": bool(step.grammar)})
        elif isinstance(step, ReadLabels):
            steps.append({"read_labels": list(step.labels)})
    return plan.prompt, json.dumps(steps, ensure_ascii=False)
