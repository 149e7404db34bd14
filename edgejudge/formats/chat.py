"""Render a GGUF's own chat template, treating it as untrusted input.

A chat template is Jinja code written by whoever made the GGUF. It is rendered in jinja2's
immutable sandbox (no attribute access to Python internals, no mutation of our objects), with the
few helpers Hugging Face templates expect (``raise_exception``, ``strftime_now``).
"""

from __future__ import annotations

import datetime
import functools
import json

from edgejudge.errors import ModelFileError


class _TemplateRaised(Exception):
    pass


def _raise_exception(message: str):
    raise _TemplateRaised(message)


def _tojson(value, indent=None, ensure_ascii=False, separators=None, sort_keys=False):
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, separators=separators, sort_keys=sort_keys)


@functools.lru_cache(maxsize=16)
def _compile(source: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # The same environment options as transformers' apply_chat_template, so templates render
    # byte for byte as their authors tested them.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(source)


def render(template: str, messages: list[dict], *, bos_token: str = "", eos_token: str = "",
           add_generation_prompt: bool = True, **extra) -> str:
    """The prompt text the template makes of ``messages``, ending where the assistant speaks."""
    from jinja2 import TemplateError

    try:
        compiled = _compile(template)
        return compiled.render(
            messages=messages, bos_token=bos_token, eos_token=eos_token,
            add_generation_prompt=add_generation_prompt, **extra,
        )
    except _TemplateRaised as exc:
        raise ModelFileError(f"the model's chat template refused the conversation: {exc}",
                             hint="this template may not accept a system message; use another model") from None
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ModelFileError(f"the model's chat template could not be rendered: {exc}",
                             hint="the GGUF's tokenizer.chat_template is broken; use another GGUF") from None
