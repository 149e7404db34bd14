"""The shapes of an OpenAI-compatible server's answers, checked in one place.

A server's answer is untrusted input. Each answer the remote backend reads is checked against a
small declarative schema below before any field is used; an answer of another shape (a JSON
array, ``choices: ["x"]``, a list where a mapping belongs, a log-probability that is not a finite
number <= 0) is a :class:`RemoteError` with the code ``protocol`` naming the field, which the
stream turns into an error record like any other failed request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from edgejudge.errors import RemoteError


class Mismatch(Exception):
    def __init__(self, where: str, problem: str):
        super().__init__(f"{where or 'the answer'}: {problem}")


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


# -- the schema layer: each shape is a function (value, where) -> checked value ----------------

Shape = Callable[[object, str], object]


def string(value, where):
    if not isinstance(value, str):
        raise Mismatch(where, f"expected a string, got {_kind(value)}")
    return value


def integer(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Mismatch(where, f"expected a count, got {_kind(value)}")
    return value


def logprob(value, where):
    """A log-probability: a number <= 0 (up to rounding), or -inf; never NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value > 1e-3:
        raise Mismatch(where, f"expected a log-probability (a number <= 0), got {_kind(value)}")
    return min(float(value), 0.0)


def anything(value, where):
    return value


def optional(shape: Shape) -> Shape:
    def check(value, where):
        return None if value is None else shape(value, where)
    return check


def one_of(*shapes: Shape) -> Shape:
    def check(value, where):
        problems = []
        for shape in shapes:
            try:
                return shape(value, where)
            except Mismatch as exc:
                problems.append(str(exc).partition(": ")[2])
        raise Mismatch(where, " or ".join(problems))
    return check


def array(shape: Shape, *, at_least: int = 0) -> Shape:
    def check(value, where):
        if not isinstance(value, list):
            raise Mismatch(where, f"expected an array, got {_kind(value)}")
        if len(value) < at_least:
            raise Mismatch(where, f"expected at least {at_least} item(s), got {len(value)}")
        return [shape(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return check


def mapping(shape: Shape) -> Shape:
    """An object with any keys, each value of ``shape``."""
    def check(value, where):
        if not isinstance(value, dict):
            raise Mismatch(where, f"expected an object, got {_kind(value)}")
        return {key: shape(item, f"{where}.{key}") for key, item in value.items()}
    return check


def obj(**fields: Shape) -> Shape:
    """An object with these fields (missing ones read as null; others are ignored)."""
    def check(value, where):
        if not isinstance(value, dict):
            raise Mismatch(where, f"expected an object, got {_kind(value)}")
        return {name: shape(value.get(name), f"{where}.{name}" if where else name) for name, shape in fields.items()}
    return check


MODELS = obj(data=optional(array(obj(id=string, owned_by=optional(string)))))
USAGE = optional(obj(prompt_tokens=optional(integer), completion_tokens=optional(integer)))
COMPLETION = obj(
    choices=array(obj(text=optional(string), finish_reason=optional(string),
                      stop_reason=optional(one_of(string, integer)), logprobs=anything), at_least=1),
    usage=USAGE,
)
# OpenAI's completions shape (vLLM, llama-cpp-python): one token -> log-probability map per position.
OPENAI_LOGPROBS = obj(top_logprobs=array(optional(mapping(optional(logprob))), at_least=1))
# llama-server's shape: per position, a list of {token, logprob}.
LLAMA_LOGPROBS = obj(content=array(obj(top_logprobs=optional(array(obj(token=string, logprob=logprob)))),
                                   at_least=1))


# -- the answers the remote backend reads ------------------------------------------------------

@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    stop_reason: str | int | None
    logprobs: object
    prompt_tokens: int
    completion_tokens: int


def _checked(shape: Shape, value, host: str, what: str):
    try:
        return shape(value, "")
    except Mismatch as exc:
        raise RemoteError(f"{host} sent an answer to {what} that is not the OpenAI protocol: {exc}", code="protocol",
                          hint="is --base-url an OpenAI-compatible server (llama-server, vLLM)? its log may say "
                               "more") from None


def decode(body: bytes, host: str, what: str):
    """The JSON value of an answer's body (UTF-8, as JSON requires)."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:  # nested deeper than the interpreter recurses
        raise RemoteError(f"{host} sent an answer to {what} nested too deeply to be an OpenAI answer", code="protocol",
                          hint="is --base-url an OpenAI-compatible server?") from None
    except UnicodeDecodeError:
        raise RemoteError(f"{host} sent an answer to {what} that is not UTF-8 text", code="protocol",
                          hint="is --base-url an OpenAI-compatible server?") from None
    except ValueError:
        shown = body[:80].decode("utf-8", "replace")
        raise RemoteError(f"{host} sent something other than JSON for {what}: {shown!r}", code="protocol",
                          hint="is --base-url an OpenAI-compatible server? (a web page or a proxy's error?)") from None


def models(answer, host: str) -> list[dict]:
    """The ``/v1/models`` listing: entries with an ``id`` (and perhaps ``owned_by``)."""
    return _checked(MODELS, answer, host, "/models")["data"] or []


def completion(answer, host: str) -> Completion:
    checked = _checked(COMPLETION, answer, host, "/completions")
    choice = checked["choices"][0]
    usage = checked["usage"] or {}
    return Completion(choice["text"] or "", choice["finish_reason"], choice["stop_reason"], choice["logprobs"],
                      usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)


def top_logprobs(logprobs, host: str) -> dict[str, float] | None:
    """The most likely next tokens, text -> log-probability, from either shape; None when the
    answer has no log-probabilities at all."""
    if not logprobs:
        return None
    if isinstance(logprobs, dict) and logprobs.get("top_logprobs"):
        top = _checked(OPENAI_LOGPROBS, logprobs, host, "/completions (logprobs)")["top_logprobs"][0] or {}
        return {token: value for token, value in top.items() if token and value is not None}
    if isinstance(logprobs, dict) and logprobs.get("content"):
        entries = _checked(LLAMA_LOGPROBS, logprobs, host, "/completions (logprobs)")["content"][0]["top_logprobs"]
        return {entry["token"]: entry["logprob"] for entry in entries or [] if entry["token"]}
    if not isinstance(logprobs, dict):
        _checked(obj(), logprobs, host, "/completions (logprobs)")
    return None
