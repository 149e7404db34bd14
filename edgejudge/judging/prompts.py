"""``edgejudge prompt``: the exact prompt for an item, without loading the model's weights.

Registered judges use their family's own rendering, so no file is needed at all; a generic model
(or a bare GGUF) needs only its header, for the chat template.
"""

from __future__ import annotations

import json

from edgejudge.formats import Format, JudgeOptions
from edgejudge.formats import spec as format_spec
from edgejudge.formats.reward import format_class
from edgejudge.items import Item
from edgejudge.plan import Append, Generate, ReadLabels, RewardPlan
from edgejudge.store import gguf_file, registry, resolve


def format_for(model_ref: str | None) -> Format:
    """The judge format ``-m`` names, resolved as ``judge`` resolves it (:func:`resolve.target`):
    a registered judge of a known family needs no file; any other needs its GGUF's header."""
    found = resolve.target(model_ref)
    spec = found.spec
    if spec is not None and format_spec.load(spec.family).family.chat != "gguf":
        return Format.of_model(spec.family, spec)
    if found.path is not None:
        info = gguf_file.read(resolve.existing(found.path))
        family = info.get("edgejudge.family")
        family = family if family in registry.FAMILIES else "generic"
        return format_class(family).of_model(family, None, chat_template=_template(info))
    resolved = resolve.resolve(found.ref)  # a registered judge prompted through its GGUF's template
    return format_class(resolved.family).of_model(resolved.family, spec, chat_template=_template(resolved.gguf))


def _template(info: gguf_file.GGUFInfo) -> str | None:
    template = info.get("tokenizer.chat_template")
    return template if isinstance(template, str) else None


def unverified(model_ref: str | None, item: Item) -> str:
    """What of ``item``'s prompt cannot be checked against the authors' (one line), or ""."""
    return format_for(model_ref).unverified(item)


def render(model_ref: str | None, item: Item, options: JudgeOptions) -> tuple[str, str]:
    """The prompt text, and the steps after it as JSON (what is appended, generated and read)."""
    fmt = format_for(model_ref)
    plan = fmt.plan(item, options)
    steps: list[dict[str, object]] = []
    if isinstance(plan, RewardPlan):  # each conversation is scored on its own
        steps = [{"read_reward": name, "text": plan.text(name)} for name, _ in plan.sequences]
        return plan.prompt, json.dumps(steps, ensure_ascii=False)
    for step in plan.steps:
        if isinstance(step, Append):
            steps.append({"append": step.text})
        elif isinstance(step, Generate):
            steps.append({"generate": step.name, "max_tokens": step.max_tokens, "stop": list(step.stop),
                          "close": step.close, "grammar": bool(step.grammar)})
        elif isinstance(step, ReadLabels):
            steps.append({"read_labels": list(step.labels)})
    return plan.prompt, json.dumps(steps, ensure_ascii=False)
