"""Items that share a prompt are evaluated one after another; records still come out in input order.

The engine reuses the longest common prefix of the previous item's tokens. In a file where the
pairs of one prompt are scattered, consecutive items share only the judge's fixed head, and each
item evaluates its prompt and first response again. Within a bounded window of input lines, the
items are evaluated grouped by prompt, then by first response (each group in order of first
appearance), so that an item's tokens up to its second response are usually in the cache already.

Records are buffered and handed on in input order as soon as every earlier line is done, so the
output is always a prefix of the input order: a run killed at any point resumes correctly with
``--resume``, losing at most the window's evaluated but not yet written items.
(benchmarks/bench_grouping.py measured this design against keeping several sequences alive.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import orjson

DEFAULT_WINDOW = 1024


def key_of_value(value: object) -> tuple | None:
    """What an item's prompt tokens start with after the judge's head: (prompt, first response)."""
    if not isinstance(value, dict):
        return None
    prompt = value.get("prompt")
    first = value.get("response_a", value.get("response"))
    if not isinstance(prompt, str):
        return None
    return (prompt, first if isinstance(first, str) else None)


def key_of_line(raw: object) -> tuple | None:
    if not isinstance(raw, (bytes, bytearray)):  # an oversized line, skipped unread: a group of its own
        return None
    try:
        return key_of_value(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def order(keys: list[tuple | None]) -> list[int]:
    """Evaluation order for a window: by prompt, then first response, in order of first appearance;
    items without a key stay where they are relative to their neighbours' groups."""
    first_prompt: dict = {}
    first_pair: dict = {}
    rank = []
    for i, key in enumerate(keys):
        if key is None:  # a group of its own
            p = first_prompt.setdefault(("line", i), len(first_prompt))
            rank.append((p, i, i))
            continue
        p = first_prompt.setdefault(("prompt", key[0]), len(first_prompt))
        q = first_pair.setdefault(key, i)
        rank.append((p, q, i))
    return sorted(range(len(keys)), key=rank.__getitem__)


def grouped(tasks: Iterable[tuple], key: Callable[[tuple], tuple | None], window: int = DEFAULT_WINDOW,
            stop: Callable[[], bool] = lambda: False) -> Iterator:
    """Run ``(line, work, ...)`` tasks grouped within windows of ``window``; yield results in input order.

    ``key(task)`` gives the grouping key of a task. When ``stop()`` turns true, the results that
    complete the input-order head are yielded and the rest of the window is dropped unwritten.
    """
    source = iter(tasks)
    while True:
        batch = []
        for task in source:
            batch.append(task)
            if len(batch) >= window:
                break
        if not batch:
            return
        results: dict[int, object] = {}
        head = 0
        for index in order([key(task) for task in batch]):
            if stop():
                return
            results[index] = batch[index][1]()
            while head in results:
                yield results.pop(head)
                head += 1
        if len(batch) < window:
            return
