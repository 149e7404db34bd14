"""Items that share a prompt are evaluated one after another; records still come out in input order.

The engine reuses the longest common prefix of the previous item's tokens. In a file where the
pairs of one prompt are scattered, consecutive items share only the judge's fixed head, and each
item evaluates its prompt and first response again. Within a bounded window of input lines, the
items are evaluated grouped by prompt, then by first response (each group in order of first
appearance), so that an item's tokens up to its second response are usually in the cache already.

Records are buffered and handed on in input order as soon as every earlier line is done, so the
output is always a prefix of the input order: a run killed at any point resumes correctly with
``--resume``, losing at most the window's evaluated but not yet written items.

A window ends at ``window`` lines or once its lines hold ``max_bytes`` (:data:`DEFAULT_WINDOW_BYTES`),
whichever comes first: 1,024 lines of 1 MB would otherwise be a gigabyte held at once. A window
keeps each line's bytes and, for its grouping key, only hashes of the prompt and first response,
not copies of them. (benchmarks/bench_group_memory.py: 300 lines of 1 MB, ``score`` with SmolLM2,
peak RSS 724 MiB before the byte bound and the hashed keys, 166 MiB with a window of 1; see
docs/streams.md for the figures after.)
(benchmarks/bench_grouping.py measured this design against keeping several sequences alive.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import orjson

DEFAULT_WINDOW = 1024
# Typical items are a few KB, so 1,024 of them stay far below this; items of a megabyte or more
# are grouped within 16 MiB at a time (their prompts rarely share a prefix worth the memory).
DEFAULT_WINDOW_BYTES = 16 << 20


def key_of_value(value: object) -> tuple | None:
    """What an item's prompt tokens start with after the judge's head: (prompt, first response),
    as hashes (equal texts give equal keys; a collision would only change the order of evaluation)."""
    if not isinstance(value, dict):
        return None
    prompt = value.get("prompt")
    first = value.get("response_a", value.get("response"))
    if not isinstance(prompt, str):
        return None
    return (hash(prompt), hash(first) if isinstance(first, str) else None)


def size_of(raw: object) -> int:
    """The bytes a window holds for one task's input: a line's length (a dict or an oversized
    line's size record is the caller's memory already, counted as nothing)."""
    return len(raw) if isinstance(raw, (bytes, bytearray, str)) else 0


def key_of_line(raw: object) -> tuple | None:
    if not isinstance(raw, (bytes, bytearray, str)):  # an oversized line, skipped unread: a group of its own
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
            stop: Callable[[], bool] = lambda: False, max_bytes: int = DEFAULT_WINDOW_BYTES) -> Iterator:
    """Run ``(line, work, raw, ...)`` tasks grouped within windows of at most ``window`` tasks and
    about ``max_bytes`` of ``raw`` input (a window ends after the line that reaches it); yield
    results in input order.

    ``key(task)`` gives the grouping key of a task. When ``stop()`` turns true, the results that
    complete the input-order head are yielded and the rest of the window is dropped unwritten.
    """
    source = iter(tasks)
    while True:
        batch: list = []
        held, full = 0, False
        for task in source:
            batch.append(task)
            held += size_of(task[2]) if len(task) > 2 else 0
            if len(batch) >= window or held >= max_bytes:
                full = True
                break
        if not batch:
            return
        results: dict[int, object] = {}
        head = 0
        for index in order([key(task) for task in batch]):
            if stop():
                return
            results[index] = batch[index][1]()
            batch[index] = None  # its line (held by the task) is no longer needed
            while head in results:
                yield results.pop(head)
                head += 1
        if not full:
            return
