"""Validate TOML tables into frozen dataclasses.

The registry (models.toml) and the judge-format tables are data. This module turns a parsed TOML
table into a frozen dataclass, checking every key and type, and names the TOML path of whatever is
wrong (``models.smollm2-135m.files.Q4_1.sha256: expected a string, got 12``). Unknown keys are
errors: a typo in a registry must never be silently ignored.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``X | None``, ``tuple[T, ...]``,
nested dataclasses, and ``Mapping[str, T]`` (stored as a read-only mapping).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from types import MappingProxyType

from edgejudge.errors import RegistryError

_MISSING = dataclasses.MISSING


def load(cls: type, data: object, path: str, source: str, extra: Mapping[str, object] | None = None):
    """Build ``cls`` from the TOML table ``data`` found at ``path`` in file ``source``.

    ``extra`` supplies values for fields that do not come from the table (e.g. an id that is
    the table's own key).
    """
    if not isinstance(data, Mapping):
        raise _error(source, path, f"expected a table, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = dict(extra or {})
    unknown = sorted(set(data) - (set(fields) - set(extra)))
    if unknown:
        allowed = ", ".join(sorted(set(fields) - set(extra)))
        raise _error(source, _join(path, unknown[0]), f"unknown key (allowed keys: {allowed})")
    values = {}
    for name, field in fields.items():
        if name in extra:
            values[name] = extra[name]
            continue
        if name not in data:
            if field.default is _MISSING and field.default_factory is _MISSING:
                raise _error(source, _join(path, name), "required key is missing")
            continue
        values[name] = _convert(hints[name], data[name], _join(path, name), source)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise _error(source, path, str(exc)) from None


def _convert(tp, value, path: str, source: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        return _convert(options[0], value, path, source)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return load(tp, value, path, source)
    if origin is tuple:
        if not isinstance(value, list):
            raise _error(source, path, f"expected an array, got {_describe(value)}")
        return tuple(_convert(args[0], v, f"{path}[{i}]", source) for i, v in enumerate(value))
    if origin in (Mapping, dict, typing.Mapping):
        if not isinstance(value, Mapping):
            raise _error(source, path, f"expected a table, got {_describe(value)}")
        return MappingProxyType({k: _convert(args[1], v, _join(path, k), source) for k, v in value.items()})
    if tp is bool:
        if not isinstance(value, bool):
            raise _error(source, path, f"expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error(source, path, f"expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _error(source, path, f"expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _error(source, path, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"tables.load cannot handle the field type {tp!r} at {path}")


def _join(path: str, key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key):
        return f"{path}.{key}" if path else key
    return f'{path}."{key}"' if path else f'"{key}"'


def _describe(value: object) -> str:
    kind = {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text[:40]}" if len(text) <= 40 else kind


def _error(source: str, path: str, problem: str) -> RegistryError:
    return RegistryError(f"{source}: {path}: {problem}", hint=f"fix {path} in {source}")
