"""Prompt text from a format table and an item: templates, conversations and chat layouts.

Templates are filled in two passes: ``${name}`` from the table (static text, trusted), then
``{field}`` with a placeholder (``plan.slot``) that the plan later replaces by the user's data as a
separate segment. The chat layouts of the judge families are written out here byte for byte
(ChatML for the Qwen3 judges, DeepSeek-R1-Distill for RM-R1) rather than left to a Jinja template,
so the exact prompt is under test; ``gguf`` renders the model's own template in a sandbox.
"""

from __future__ import annotations

import re
import string

from edgejudge.formats import chat
from edgejudge.plan import slot

SLOT_RE = re.compile(r"\{(prompt|response|response_a|response_b|rubric|options|context|conversation_a|"
                     r"conversation_b|sources|turns)\}")


def fill_statics(template: str, statics: dict[str, str]) -> str:
    """Replace ``${name}``; a missing name is a bug in a format table."""
    return string.Template(template).substitute(statics)


def with_slots(text: str) -> tuple[str, set[str]]:
    """``text`` with every ``{field}`` turned into a slot; also returns the fields used."""
    used: set[str] = set()

    def repl(match: re.Match) -> str:
        used.add(match.group(1))
        return slot(match.group(1))

    return SLOT_RE.sub(repl, text), used


def chatml(system: str, user: str, assistant_prefix: str) -> str:
    head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    return f"{head}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{assistant_prefix}"


def deepseek(system: str, user: str, assistant_prefix: str) -> str:
    # DeepSeek-R1-Distill: BOS, the system text with no separator, then the user turn.
    return f"<｜begin▁of▁sentence｜>{system}<｜User｜>{user}<｜Assistant｜>{assistant_prefix}"


def gguf_chat(template: str, system: str, user: str, assistant_prefix: str, *, bos: str = "", eos: str = "") -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    text = chat.render(template, messages, bos_token=bos, eos_token=eos)
    _check_slots(text, system + user)
    return text + assistant_prefix


def gguf_conversation(template: str, messages: list[dict], *, bos: str = "", eos: str = "") -> str:
    """A whole conversation (ending with the assistant's message) through the model's template, with
    no generation prompt: what ``apply_chat_template(conv, tokenize=False)`` makes of it."""
    text = chat.render(template, messages, bos_token=bos, eos_token=eos, add_generation_prompt=False)
    _check_slots(text, "".join(m["content"] for m in messages))
    return text


_MARKS = re.compile("[\ue000\ue001]")


def _check_slots(rendered: str, given: str) -> None:
    """The template must pass every slot through once, as given, and add no slot marker of its
    own: an extra marker would be taken for user data, a dropped one would lose it silently."""
    from collections import Counter

    from edgejudge.errors import ModelFileError

    if Counter(_MARKS.findall(rendered)) != Counter(_MARKS.findall(given)) or \
            Counter(re.findall("\ue000[^\ue001]*\ue001", rendered)) != Counter(re.findall("\ue000[^\ue001]*\ue001", given)):
        raise ModelFileError(
            "the model's chat template (tokenizer.chat_template) does not pass the conversation through as given: "
            "it drops or repeats a message, or writes edgejudge's private slot characters (U+E000/U+E001)",
            hint="use a judge family with its own chat layout, or another GGUF")


def role_blocks(messages) -> str:
    """mR3's conversation layout: every message as ``<role>\\ntext\\n</role>\\n``."""
    return "".join(f"<{m['role']}>\n{m['content']}\n</{m['role']}>\n" for m in messages)


def role_lines(messages, assistant_name: str) -> str:
    """RM-R1's conversation layout: ``User: ...`` / ``Chatbot A: ...`` lines, no final newline."""
    names = {"user": "User", "assistant": assistant_name}
    return "\n".join(f"{names.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in messages)


def guard_turns(messages) -> str:
    """Qwen3Guard-Gen's conversation layout, as its chat template's loop writes it: ``USER: text``
    and ``ASSISTANT: text`` paragraphs joined by a blank line; a first system message is written as
    ``USER: text`` and the user message right after it is appended with no prefix of its own."""
    parts = []
    for i, message in enumerate(messages):
        role, text = message["role"], message["content"]
        if i == 0:
            parts.append(f"USER: {text}" if role in ("system", "user") else "")
        elif messages[i - 1]["role"] == "system" and role == "user":
            parts.append(f"\n\n{text}")
        elif role in ("user", "assistant"):
            parts.append(f"\n\n{'USER' if role == 'user' else 'ASSISTANT'}: {text}")
    return "".join(parts)


def one_exchange(conversation_a, conversation_b) -> tuple[str, str, str] | None:
    """(prompt, response_a, response_b) when two conversations are one exchange each, else None.

    The authors render such a pair with their single-turn template: mR3 when the arena record has
    ``turns == 1`` (its first user message, and each side's first assistant message, empty if none);
    RM-R1 when the conversation has at most two messages. One exchange here: each side is a user
    message, optionally followed by one assistant message, and both sides ask the same thing. Anything
    else (a system message, more messages, different requests) keeps the conversation layout, which
    loses nothing.
    """
    sides = []
    for messages in (conversation_a, conversation_b):
        roles = [m["role"] for m in messages]
        if roles not in (["user"], ["user", "assistant"]):
            return None
        sides.append((messages[0]["content"], messages[1]["content"] if len(messages) == 2 else ""))
    (prompt_a, response_a), (prompt_b, response_b) = sides
    if prompt_a != prompt_b:
        return None
    return prompt_a, response_a, response_b
