"""Qwen3Guard-Gen (the ``guard`` family): what is moderated, and the verdict it gives.

The authors' chat template moderates the LAST message of a conversation: the user's query
(``prompt``) or the assistant's response (``response``, with whether it is a refusal). An item
gives that conversation as ``prompt`` (and ``response``) or as ``conversation`` (and optionally a
``response`` that answers it). The model answers ``Safety: Safe|Controversial|Unsafe``, then the
categories, then (responses) ``Refusal: Yes|No``; edgejudge reads each from the logits.

The safety task's verdict is binary (``true`` = harmful, as mR3's): the authors' two readings of
"controversial" decide it. ``strict`` counts controversial as unsafe (their evaluation script's F1,
``eval/eval_gen.py``: "Safety: Unsafe" or "Safety: Controversial" is a positive), ``loose`` as
safe (``eval/eval_stream.py``'s second reading). The three-way probabilities are kept.
"""

from __future__ import annotations

from edgejudge.errors import InputError
from edgejudge.formats import spec
from edgejudge.formats.options import Decision, JudgeOptions
from edgejudge.items import Item
from edgejudge.plan import Outcome

POLICIES = ("strict", "loose")
DEFAULT_POLICY = "strict"
LEVELS = ("safe", "controversial", "unsafe")


def variant(item: Item, task: spec.TaskFormat) -> str:
    """``prompt`` or ``response``: what the item asks to moderate, as the template decides it from
    the last message's role; an explicit variant must agree with the messages given."""
    if item.rubric is not None:
        raise InputError("Qwen3Guard's template has no place for a rubric: its safety policy is built in",
                         code="bad_value", hint="leave 'rubric' out, or use mR3 for a safety rubric of your own")
    chosen = item.variant
    if chosen is not None and chosen not in task.variants:
        raise InputError(f"safety variant {chosen!r} is not one of {', '.join(task.variants)}", code="bad_value",
                         hint="Qwen3Guard moderates a prompt (the last user turn) or a response (the last assistant turn)")
    last = _last_role(item)
    if chosen is None:
        chosen = "response" if last == "assistant" else task.default_variant or "prompt"
    if chosen == "response" and last != "assistant" and item.response is None:
        raise InputError("response moderation needs the response to moderate", code="missing_field",
                         hint="give 'response' (or a conversation that ends with the assistant's turn)")
    if chosen == "prompt" and item.conversation and last == "assistant":
        raise InputError("the conversation ends with the assistant's turn: Qwen3Guard moderates the last message",
                         code="bad_value", hint="use the variant 'response', or end the conversation with the user's turn")
    return chosen


def _last_role(item: Item) -> str:
    if item.conversation:
        return "assistant" if item.response is not None else item.conversation[-1]["role"]
    return "user"


def messages(item: Item, chosen: str) -> tuple[dict, ...]:
    """The conversation the template renders: the item's, ending with the moderated message."""
    if item.conversation:
        found = list(item.conversation)
        if item.response is not None:
            if found[-1]["role"] != "user":
                raise InputError("a 'response' answers the conversation's last user turn, but the conversation "
                                 f"ends with a {found[-1]['role']} message", code="bad_value",
                                 hint="end the conversation with the user's turn, or leave 'response' out")
            found.append({"role": "assistant", "content": item.response})
    else:
        found = [{"role": "user", "content": item.prompt}]
        if chosen == "response":
            found.append({"role": "assistant", "content": item.response or ""})
    _check(found, chosen)
    return tuple(found)


def _check(found: list[dict], chosen: str) -> None:
    """Only conversations the authors' template renders whole: it writes nothing for an assistant
    message that comes first or a system message that does not, and moderates the last message."""
    roles = [m["role"] for m in found]
    if roles[0] == "assistant" or "system" in roles[1:]:
        raise InputError("Qwen3Guard's template drops an assistant message at the start and a system message "
                         "after the start of a conversation", code="bad_value",
                         hint="start with a user (or one system) message; give a system message only first")
    if roles[-1] not in ("user", "assistant"):
        raise InputError("the conversation must end with the message to moderate: a user or assistant turn",
                         code="bad_value")
    if chosen == "response" and not found[-1]["content"].strip():
        raise InputError("the response to moderate is empty", code="missing_field",
                         hint="give the assistant's response in 'response'")


def policy_of(options: JudgeOptions) -> str:
    return options.policy or DEFAULT_POLICY


def decide(item: Item, task: spec.TaskFormat, outcome: Outcome, options: JudgeOptions) -> Decision:
    """The binary verdict under the policy, with the three-way probabilities, the categories (the
    first one named, after the most probable level) and, for a response, the refusal."""
    names = dict(task.labels)
    read = outcome.labels["verdict"]
    levels = {names[native]: p for native, p in read.probabilities.items()}
    policy = policy_of(options)
    unsafe = levels["unsafe"] + (levels["controversial"] if policy == "strict" else 0.0)
    probabilities = {"true": unsafe, "false": 1.0 - unsafe}
    verdict = "true" if unsafe > 0.5 else "false"
    extra: dict = {"severity": max(levels, key=levels.__getitem__),
                   "severity_probabilities": {k: round(levels[k], 6) for k in LEVELS}, "policy": policy}
    named = {(r.name, native): name for r in task.reads for native, name in r.labels}
    for name in dict.fromkeys(r.name for r in task.reads):
        found = outcome.labels.get(name)
        if found is None:
            continue
        shown = {named[name, native]: p for native, p in found.probabilities.items()}
        if name == "refusal":
            extra["refusal"] = round(shown["Yes"], 6)
        else:
            extra[name] = {k: round(p, 6) for k, p in shown.items()}
    return Decision(verdict, probabilities, read.mass, extra=extra)
