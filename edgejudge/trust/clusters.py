"""Which gold items are one item for the guarantee: the unit of a bound is the independent item.

Users judge the same pair in both orders (docs/trust.md recommends it), run rubric variants of an
item, or repeat an item under the same id. Those records are not independent: the two orders of a
pair are usually both right or both wrong. Items fall into one cluster when they share an id or
the same content: the prompt (or conversation), the responses as an unordered set, the options.
The rubric, its variant, the scale and the task are left out of the content, so rubric variants
and the two orders of a pair share it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import orjson

RESPONSES = ("response", "response_a", "response_b", "conversation_a", "conversation_b")


def _get(item: object, name: str):
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


def content_key(item: object) -> str:
    """The same for both orders of a pair and for rubric variants of one item."""
    responses = sorted(_digest(_get(item, name)) for name in RESPONSES if _get(item, name))
    options = sorted(map(str, _get(item, "options") or ()))
    return _digest([_get(item, "prompt") or "", _get(item, "conversation") or [], responses, options])


def item_key(item: object) -> str:
    """One judged item, in its order and with its rubric (a cascade joins its stages on it)."""
    fields = ("task", "prompt", "conversation", *RESPONSES, "options", "rubric", "variant", "rubric_variant", "scale")
    return _digest({name: _get(item, name) for name in fields})


def assign(ids: Sequence[object], contents: Sequence[str]) -> list[str]:
    """Each item's cluster name: items sharing an id or a content key are joined (transitively)."""
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict = {}
    for i, (ident, content) in enumerate(zip(ids, contents)):
        for name in (("id", orjson.dumps(ident, default=str)) if ident is not None else None, ("content", content)):
            if name is None:
                continue
            if name in first:
                parent[root(i)] = root(first[name])
            else:
                first[name] = i
    return [contents[root(i)] for i in range(len(ids))]
