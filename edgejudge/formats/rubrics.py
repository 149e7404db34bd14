"""mR3's rubric variants: which rubric text, with its keys in which order.

The authors' evaluation code (rubricreward/mr3 ``src/evaluation/dataset_gen.py``,
``get_reproducible_rubric_str``) draws, per item, with one generator ``random.Random(hash(id))``:
first one text of the task's ``rubric_list`` (``rng.choice``), then, unless the task keeps its keys in
order (HelpSteer3's 1-7 scale), a shuffle of that text's keys (``rng.shuffle``), and writes each key
as ``key: text`` plus a newline. Python salts ``hash`` of a string per process, so the draw changes
from run to run and no single draw can be reproduced. edgejudge numbers the same space, every (text,
key order) pair, so that any of them can be asked for:

    variant = text_index * orders + order_index

where ``orders`` is ``k!`` for a rubric of ``k`` keys (1 when the task keeps its keys in order) and
``order_index`` is the index, in ``itertools.permutations(range(k))`` (lexicographic) order, of the
drawn keys' file positions. A draw with seed ``s`` is the variant built from the text index and the
key positions that ``random.Random(s)`` gives (tests/test_rubric_draw.py checks this against an
independent re-implementation of the authors' function). Every (text, order) is equally likely in
the authors' draw, so the mean over all variants is what their evaluation measured in expectation.
Variant 0 is the first text with its keys in file order: what edgejudge renders by default. The
counts are the authors': strict pair 6, arena 72, strength 3, binary 2, safety 6; every text of the
authors' lists is in the format table (checked when the tables load).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from edgejudge.errors import InputError


@dataclass(frozen=True)
class Rubric:
    """The rubric variants of one task variant: the authors' rubric texts, and whether keys shuffle."""

    texts: tuple[str, ...]
    shuffle: bool

    @property
    def keys(self) -> int:
        return len(lines(self.texts[0])) if self.texts and self.texts[0] else 0

    @property
    def orders(self) -> int:
        return math.factorial(self.keys) if self.shuffle else 1

    @property
    def count(self) -> int:
        """How many variants the authors draw from (all of them renderable)."""
        return len(self.texts) * self.orders if self.keys else 1

    def lines(self, variant: int, *, task: str) -> str:
        """The rubric lines of ``variant`` (``key: text`` lines, each ending in a newline)."""
        if not 0 <= variant < self.count:
            raise InputError(f"rubric_variant {variant} is out of range for {task}: the authors' rubric has "
                             f"variants 0-{self.count - 1}", code="bad_value",
                             hint=f"give a rubric_variant from 0 to {self.count - 1}")
        if not self.keys:
            return self.texts[0] if self.texts else ""
        text = self.texts[variant // self.orders]
        order = nth_permutation(self.keys, variant % self.orders)
        parts = lines(text)
        return "".join(parts[i] + "\n" for i in order)


def lines(rubric_lines: str) -> list[str]:
    """The ``key: text`` lines of a rubric, without their newlines."""
    return [line for line in rubric_lines.split("\n") if line]


def nth_permutation(k: int, n: int) -> tuple[int, ...]:
    """The ``n``-th of ``itertools.permutations(range(k))``, without listing the others."""
    pool = list(range(k))
    out = []
    for i in range(k, 0, -1):
        index, n = divmod(n, math.factorial(i - 1))
        out.append(pool.pop(index))
    return tuple(out)


def sample(count: int, wanted: int | str, *, seed: int, item_id: object) -> tuple[int, ...]:
    """The variants to average over: all of them, or ``wanted`` of them drawn deterministically
    from ``seed`` and the item's id (a string seed is hashed with SHA-512, never salted)."""
    if wanted == "all" or (isinstance(wanted, int) and wanted >= count):
        return tuple(range(count))
    if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted < 1:
        raise InputError(f"rubric_variants must be 'all' or a number of variants >= 1, got {wanted!r}",
                         code="bad_value")
    rng = random.Random(f"edgejudge-rubric-variants:{seed}:{item_id!r}")
    return tuple(sorted(rng.sample(range(count), wanted)))

