"""Render a GGUF's own chat template, treating it as untrusted input.

A chat template is Jinja code written by whoever made the GGUF. It is rendered in jinja2's
immutable sandbox (no attribute access to Python internals, no mutation of our objects), with the
few helpers Hugging Face templates expect (``raise_exception``, ``strftime_now``).

The sandbox keeps a template from reaching Python; the limits here keep it from taking the
process with it. A render has a wall-clock deadline and a step budget, counted by a trace function
on the template's own frames (a watchdog thread could not interrupt it, and a loop that calls
nothing and prints nothing gives no other hook); every string, list or number it builds is
capped, by checks before ``*``, ``**``, ``+`` and ``%`` and before any call or filter with a huge
width, and by a look at its variables at each step (``s ~ s`` doubling is caught at the next
line). Whatever goes wrong (a limit, an exception, recursion) is a :class:`ModelFileError` naming
the template. A template is rendered once per distinct input: the prompt frames hold slots, not
user data, so a whole run renders each of its frames once, and a failure is remembered too.
"""

from __future__ import annotations

import collections
import datetime
import functools
import hashlib
import json
import re
import sys
import threading
import time

from edgejudge.errors import ModelFileError

MAX_CHARS = 1 << 20  # any string or list a template builds, and its output (prompts hold slots, not data)
MAX_STEPS = 1_000_000  # lines of template code executed in one render
MAX_SECONDS = 2.0
MAX_INT_BITS = 1 << 16
_WIDE = re.compile(r"\d{7,}|%[-+ #0]*\*")  # a 7-digit width or a '*' width in a format string
_CACHE_SIZE = 64
_cache: collections.OrderedDict = collections.OrderedDict()
_cache_lock = threading.Lock()


class _TemplateRaised(Exception):
    pass


class TemplateLimit(Exception):
    """A template went past one of the render limits."""


def _raise_exception(message: str):
    raise _TemplateRaised(message)


def _tojson(value, indent=None, ensure_ascii=False, separators=None, sort_keys=False):
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, separators=separators, sort_keys=sort_keys)


def _sized(value) -> int:
    try:
        return len(value) if isinstance(value, (str, bytes, list, tuple, dict, set)) else 0
    except TypeError:
        return 0


def _check_size(value, what: str):
    if _sized(value) > MAX_CHARS:
        raise TemplateLimit(f"{what} built a value of {_sized(value):,} items (limit {MAX_CHARS:,})")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimit(f"{what} built a {value.bit_length():,}-bit number")
    return value


def _check_args(args, kwargs, what: str) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_CHARS:
            raise TemplateLimit(f"{what} was called with {arg:,} (limit {MAX_CHARS:,})")


def _check_growth(name: str, value, args, what: str) -> None:
    """Refuse before the call the operations whose result can dwarf their inputs."""
    if name in ("format", "format_map") and isinstance(value, str) and _WIDE.search(value):
        raise TemplateLimit(f"{what} with a huge width")
    if name == "replace" and isinstance(value, str) and len(args) >= 2 and isinstance(args[0], str) \
            and isinstance(args[1], str):
        grown = len(value) + value.count(args[0]) * max(len(args[1]) - len(args[0]), 0) if args[0] else \
            len(value) * (len(args[1]) + 1)
        if grown > MAX_CHARS:
            raise TemplateLimit(f"{what} would build {grown:,} characters (limit {MAX_CHARS:,})")
    if name == "join" and args and _sized(value) * _sized(args[0]) > MAX_CHARS:
        raise TemplateLimit(f"{what} would build more than {MAX_CHARS:,} characters")


def _guard_filter(name: str, func):
    from jinja2.utils import _PassArg

    skip = 1 if _PassArg.from_obj(func) is not None else 0  # the context/environment jinja passes

    @functools.wraps(func)  # keeps jinja's pass_context/pass_environment marks
    def guarded(*args, **kwargs):
        values = args[skip:]
        what = f"the filter {name!r}"
        _check_args(values[1:], kwargs, what)
        if values:
            _check_growth(name, values[0], values[1:], what)
        return _check_size(func(*args, **kwargs), what)

    return guarded


@functools.lru_cache(maxsize=16)
def _compile(source: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "+", "%"])

        def call_binop(self, context, operator, left, right):
            _check_binop(operator, left, right)
            return _check_size(super().call_binop(context, operator, left, right), f"'{operator}'")

        def getattr(self, obj, attribute):
            # str.format comes back wrapped (not a bound method): its width is checked here.
            if isinstance(obj, str) and attribute in ("format", "format_map"):
                _check_growth(attribute, obj, (), f"str.{attribute}")
            return super().getattr(obj, attribute)

        def getitem(self, obj, argument):
            if isinstance(obj, str) and argument in ("format", "format_map"):
                _check_growth(argument, obj, (), f"str.{argument}")
            return super().getitem(obj, argument)

        def call(self, context, obj, /, *args, **kwargs):
            name = getattr(obj, "__name__", "a function")
            _check_args(args, kwargs, name)
            _check_growth(name, getattr(obj, "__self__", None), args, name)
            return _check_size(super().call(context, obj, *args, **kwargs), name)

    # The same environment options as transformers' apply_chat_template, so templates render
    # byte for byte as their authors tested them.
    env = BoundedSandbox(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.filters = {name: _guard_filter(name, func) for name, func in env.filters.items()}
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(source)


def _check_binop(operator: str, left, right) -> None:
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimit("'*' of two huge numbers")
        else:
            seq, n = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(n, int) and _sized(seq) * max(n, 0) > MAX_CHARS:
                raise TemplateLimit(f"'*' would build {_sized(seq) * n:,} items (limit {MAX_CHARS:,})")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                and right * left.bit_length() > MAX_INT_BITS:
            raise TemplateLimit("'**' would build a huge number")
    elif operator == "+":
        if _sized(left) + _sized(right) > MAX_CHARS:
            raise TemplateLimit(f"'+' would build {_sized(left) + _sized(right):,} items (limit {MAX_CHARS:,})")
    elif operator == "%" and isinstance(left, str) and _WIDE.search(left):
        raise TemplateLimit("'%' formatting with a huge width")


class _Budget:
    """A trace function that counts the template's lines and checks the deadline and its variables."""

    def __init__(self):
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def global_trace(self, frame, event, arg):
        # Only the template's own code (compiled from "<template>") is traced line by line.
        return self.local_trace if frame.f_code.co_filename == "<template>" else None

    def local_trace(self, frame, event, arg):
        if event == "line":
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateLimit(f"it ran more than {MAX_STEPS:,} steps")
            if time.monotonic() > self.deadline:
                raise TemplateLimit(f"it ran longer than {MAX_SECONDS:g} s")
            for value in frame.f_locals.values():
                _check_size(value, "a variable")
                attrs = getattr(value, "_Namespace__attrs", None)  # {% set ns.x = ... %}
                if isinstance(attrs, dict):
                    for inner in attrs.values():
                        _check_size(inner, "a namespace variable")
        return self.local_trace


def _render_bounded(compiled, variables: dict) -> str:
    budget = _Budget()
    previous = sys.gettrace()
    sys.settrace(budget.global_trace)
    try:
        out: list[str] = []
        size = 0
        for chunk in compiled.generate(**variables):
            size += len(chunk)
            if size > MAX_CHARS:
                raise TemplateLimit(f"its output passed {MAX_CHARS:,} characters")
            out.append(chunk)
        return "".join(out)
    finally:
        sys.settrace(previous)


def _key(template: str, messages: list[dict], variables: dict) -> str:
    try:
        text = json.dumps([template, messages, variables], sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return ""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _name(template: str) -> str:
    digest = hashlib.sha256(template.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"the model's chat template (tokenizer.chat_template, sha256 {digest}…)"


def render(template: str, messages: list[dict], *, bos_token: str = "", eos_token: str = "",
           add_generation_prompt: bool = True, **extra) -> str:
    """The prompt text the template makes of ``messages``, ending where the assistant speaks."""
    variables = dict(bos_token=bos_token, eos_token=eos_token, add_generation_prompt=add_generation_prompt, **extra)
    key = _key(template, messages, variables)
    with _cache_lock:
        cached = _cache.get(key) if key else None
    if cached is None:
        cached = _render_uncached(template, messages, variables)
        if key:
            with _cache_lock:
                _cache[key] = cached
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
    if isinstance(cached, ModelFileError):
        raise ModelFileError(cached.message, hint=cached.hint)
    return cached


def _render_uncached(template: str, messages: list[dict], variables: dict):
    """The rendered text, or the ModelFileError to raise (so that a failure is remembered too)."""

    name = _name(template)
    try:
        return _render_bounded(_compile(template), {"messages": messages, **variables})
    except _TemplateRaised as exc:
        return ModelFileError(f"{name} refused the conversation: {exc}",
                              hint="this template may not accept a system message; use another model")
    except TemplateLimit as exc:
        return ModelFileError(f"{name} went past a rendering limit: {exc}",
                              hint="the GGUF's tokenizer.chat_template is broken or hostile; use another GGUF")
    except RecursionError:
        return ModelFileError(f"{name} recursed too deeply",
                              hint="the GGUF's tokenizer.chat_template is broken or hostile; use another GGUF")
    except Exception as exc:  # noqa: BLE001 - the template is untrusted code: any failure is its own
        return ModelFileError(f"{name} could not be rendered: {type(exc).__name__}: {exc}",
                              hint="the GGUF's tokenizer.chat_template is broken; use another GGUF")
