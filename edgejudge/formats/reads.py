"""The label reads that end a plan: the verdict's, then any further reads of the task's table.

A judge whose answer has several parts (Qwen3Guard: ``Safety: …``, ``Categories: …``,
``Refusal: …``) gets one :class:`~edgejudge.plan.ReadLabels` per part. Each read but the last
keeps its most probable label in the context, as greedy decoding would have written it, so that
the next part is read where the model would write it; a read with ``finish_line`` first lets the
model finish the line it is on.
"""

from __future__ import annotations

from edgejudge.formats import spec
from edgejudge.plan import Append, Generate, ReadLabels, Step


def chosen(task: spec.TaskFormat, variant: str) -> tuple[spec.Read, ...]:
    """The task's further reads that belong to ``variant``."""
    return tuple(r for r in task.reads if not r.variants or variant in r.variants)


def steps(labels: tuple[str, ...], terminator: str, further: tuple[spec.Read, ...]) -> list[Step]:
    """The verdict's read of ``labels``, then each further read."""
    out: list[Step] = [ReadLabels("verdict", labels, terminator=terminator, keep=bool(further))]
    for n, read in enumerate(further):
        if read.finish_line:
            out.append(Generate(f"{read.name}_lead", read.finish_line, stop=("\n",), close="\n"))
        out.append(Append(read.prefix))
        out.append(ReadLabels(read.name, tuple(native for native, _ in read.labels), terminator=read.terminator,
                              keep=n < len(further) - 1))
    return out
