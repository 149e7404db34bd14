"""mR3's rubric variants: which rubric text, with its keys in which order.

The authors' evaluation code (rubricreward/mr3 ``get_reproducible_rubric_str``) draws, per item, one
of the task's rubric texts and shuffles its keys, with a generator seeded by Python's salted
``hash(id)``: the draw changes from run to run, so no single draw can be reproduced. edgejudge
numbers every (text, key order) pair instead, so that any of them can be asked for:

    variant = text_index * orders + order_index

where ``orders`` is ``k!`` for a rubric of ``k`` keys (1 when the task keeps its keys in order,
as HelpSteer3's 1-7 scale does) and ``order_index`` counts ``itertools.permutations`` of the keys'
file positions, in its (lexicographic) order. Variant 0 is the first text with its keys in file
order: what edgejudge renders by default. The authors' count is ``texts * orders`` (strict pair 6,
arena 72, strength 3, binary 2, safety 6); a variant whose text the format tables do not hold (not
transcribed) is refused with a message saying so.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from edgejudge.errors import InputError


@dataclass(frozen=True)
class Rubric:
    """The rubric variants of one task variant: the texts known here and the authors' count."""

    texts: tuple[str, ...]
    authors_texts: int
    shuffle: bool

    @property
    def keys(self) -> int:
        return len(lines(self.texts[0])) if self.texts and self.texts[0] else 0

    @property
    def orders(self) -> int:
        return math.factorial(self.keys) if self.shuffle else 1

    @property
    def authors_count(self) -> int:
        """How many variants the authors draw from."""
        return self.authors_texts * self.orders if self.keys else 1

    @property
    def count(self) -> int:
        """How many variants edgejudge can render (those whose text is transcribed)."""
        return len(self.texts) * self.orders if self.keys else 1

    def lines(self, variant: int, *, task: str) -> str:
        """The rubric lines of ``variant`` (``key: text`` lines, each ending in a newline)."""
        if not 0 <= variant < self.authors_count:
            raise InputError(f"rubric_variant {variant} is out of range for {task}: the authors' rubric has "
                             f"variants 0-{self.authors_count - 1}", code="bad_value",
                             hint=f"give a rubric_variant from 0 to {self.count - 1}")
        if variant >= self.count:
            raise InputError(f"rubric_variant {variant} of {task} uses the authors' rubric text "
                             f"{variant // self.orders}, which edgejudge's format tables do not hold (not "
                             f"transcribed from the authors' files)", code="bad_value",
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

