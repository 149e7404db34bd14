"""Shapes that a value read back from a state file must have: types, ranges, required keys.

A shape is a callable: ``shape(value)`` returns the value to use, or raises :class:`Invalid`
naming where the value is wrong (``choice.no_think.threads``) and what was expected. Shapes are
plain data built from a few kinds (:class:`Int`, :class:`Num`, :class:`Str`, :class:`Bool`,
:class:`OneOf`, :class:`ListOf`, :class:`MapOf`, :class:`Obj`), so a state file's schema reads as
what it is; :func:`edgejudge.state_files.read_state_json` applies one to what it read.

Decisions that hold for every state file:

* ``bool`` is never an integer (JSON ``true`` is not ``1`` thread), and numbers are finite.
* Keys an :class:`Obj` does not know are tolerated and dropped from the value it returns: a store
  may be shared by two versions of edgejudge, and a record a newer one wrote with one more field
  must not send the older one into redoing its work on every run. What is returned holds only
  checked keys, so nothing unchecked is ever used.
* Every container has a length bound, so a check costs at most what the reader's byte bound allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Invalid(ValueError):
    """A value read back does not have its shape; ``where`` is its path in the record."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def shown(value: Any) -> str:
    """A value for a message: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + f"… ({type(value).__name__}, {len(text):,} characters)"


def _at(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


class Shape:
    """Base of the shapes: ``shape(value)`` is ``shape.check(value, "")``."""

    def check(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def __call__(self, value: Any) -> Any:
        return self.check(value, "")


@dataclass(frozen=True)
class Int(Shape):
    """An integer (never a bool) from ``lo`` to ``hi``, both included."""

    lo: int
    hi: int

    def check(self, value, where):
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise Invalid(where, f"expected an integer from {self.lo} to {self.hi}, got {shown(value)}")
        return value


@dataclass(frozen=True)
class Num(Shape):
    """A finite number (int or float, never a bool) from ``lo`` to ``hi``; ``lo`` is excluded when
    ``above`` is set (a rate, a temperature: strictly positive)."""

    lo: float = -math.inf
    hi: float = math.inf
    above: bool = False

    def check(self, value, where):
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
            and (value > self.lo if self.above else value >= self.lo) and value <= self.hi
        if not ok:
            low = f"above {self.lo:g}" if self.above else f"at least {self.lo:g}"
            bounds = (f"{low}" if math.isfinite(self.lo) else "") + \
                     (f"{' and ' if math.isfinite(self.lo) else ''}at most {self.hi:g}" if math.isfinite(self.hi) else "")
            raise Invalid(where, f"expected a finite number{' ' + bounds if bounds else ''}, got {shown(value)}")
        return value


@dataclass(frozen=True)
class Str(Shape):
    """A string of at most ``max_len`` characters, passing ``test`` when one is given."""

    max_len: int = 4096
    test: Callable[[str], bool] | None = None
    what: str = "a string"

    def check(self, value, where):
        if not isinstance(value, str) or len(value) > self.max_len or (self.test is not None and not self.test(value)):
            raise Invalid(where, f"expected {self.what} (at most {self.max_len:,} characters), got {shown(value)}")
        return value


@dataclass(frozen=True)
class Bool(Shape):
    """``true`` or ``false``, nothing else (not 0 or 1)."""

    def check(self, value, where):
        if not isinstance(value, bool):
            raise Invalid(where, f"expected true or false, got {shown(value)}")
        return value


@dataclass(frozen=True)
class OneOf(Shape):
    """One of a few values, compared with their types (``1`` is not ``true``)."""

    values: tuple

    def check(self, value, where):
        if not any(type(value) is type(v) and value == v for v in self.values):
            raise Invalid(where, f"expected one of {', '.join(map(repr, self.values))}, got {shown(value)}")
        return value


@dataclass(frozen=True)
class ListOf(Shape):
    """A list of ``min_len`` to ``max_len`` items, each of shape ``item``."""

    item: Shape
    max_len: int = 1000
    min_len: int = 0

    def check(self, value, where):
        if not isinstance(value, list) or not self.min_len <= len(value) <= self.max_len:
            raise Invalid(where, f"expected a list of {self.min_len} to {self.max_len:,} items, got {shown(value)}")
        return [self.item.check(v, _at(where, i)) for i, v in enumerate(value)]


@dataclass(frozen=True)
class MapOf(Shape):
    """An object with any keys (each passing ``key``), every value of shape ``value``."""

    value: Shape
    key: Str = Str(max_len=256)
    max_len: int = 10_000

    def check(self, value, where):
        if not isinstance(value, Mapping) or len(value) > self.max_len:
            raise Invalid(where, f"expected an object of at most {self.max_len:,} keys, got {shown(value)}")
        out = {}
        for k, v in value.items():
            self.key.check(k, _at(where, "<key>"))
            out[k] = self.value.check(v, _at(where, k))
        return out


@dataclass(frozen=True)
class Obj(Shape):
    """An object with the ``required`` keys and maybe the ``optional`` ones, each of its shape;
    other keys are tolerated and dropped (see the module's docstring)."""

    required: Mapping[str, Shape]
    optional: Mapping[str, Shape] = field(default_factory=dict)

    def check(self, value, where):
        if not isinstance(value, Mapping):
            raise Invalid(where, f"expected an object, got {shown(value)}")
        out = {}
        for key, shape in self.required.items():
            if key not in value:
                raise Invalid(_at(where, key), "missing")
            out[key] = shape.check(value[key], _at(where, key))
        for key, shape in self.optional.items():
            if key in value:
                out[key] = shape.check(value[key], _at(where, key))
        return out


@dataclass(frozen=True)
class Anything(Shape):
    """Any JSON value, kept as it is (for fields edgejudge stores but never uses)."""

    def check(self, value, where):
        return value
