"""Probes: trial verdicts taken while a judge reasons, that leave no trace.

A probe feeds the family's reasoning close and verdict prefix after the reasoning so far (the text
the budget path forces when reasoning runs out), reads the label probabilities there, and removes
its tokens from the KV cache (``llama_memory_seq_rm``), so that reasoning goes on from exactly the
state it stopped in: the same cached tokens, the same logits for the next token, and the sampler's
random stream untouched (a probe samples nothing).
"""

from __future__ import annotations

import time

from edgejudge.backends.llama.labels import LabelReading
from edgejudge.plan import LabelRead, Outcome, Probe, ReadLabels


class Probing(LabelReading):
    """Taking probes during a reasoning step."""

    def probe(self, probe: Probe, context: str, outcome: Outcome, at: int, watch=None, budget: int = 0) -> bool:
        """Take a probe after ``at`` reasoning tokens (``context``: the text before it), record it in
        ``outcome`` and show it to ``watch``; whether it settles the verdict (``probe.until``)."""
        read = self.read_probe(probe, context, outcome, at)
        if watch is not None:
            watch(at, budget, outcome.probes[-1]["probabilities"])
        return probe.until is not None and at >= probe.min_think and max(read.probabilities.values()) >= probe.until

    def read_probe(self, probe: Probe, context: str, outcome: Outcome, at: int) -> LabelRead:
        """Read ``probe``'s labels after what is cached, record it in ``outcome`` as taken after ``at``
        reasoning tokens, and leave the cache (and the kept logits) as they were."""
        t0 = time.perf_counter()
        mark, kept = len(self.tokens), self._logits
        step = ReadLabels("probe", probe.labels, probe.terminator)
        tail = (context + probe.text)[-64:]
        paths, shared = self.label_prefix(step, tail)
        forced = self._probe_tokens(probe.text)
        rows = self.extend(forced + shared, len(shared) + 1)
        read = self._read_labels(step, paths, rows)
        self.truncate(mark)
        # The logits of the last cached token are unchanged by what came after it and was removed;
        # evaluating that token again instead could differ in the last digits from the batch that
        # first evaluated it, and change what is sampled next.
        self._logits = kept
        names = dict(zip(probe.labels, probe.names))
        outcome.probes.append({"at": at, "probabilities": {names[k]: v for k, v in read.probabilities.items()}})
        outcome.timings["probes_s"] = outcome.timings.get("probes_s", 0.0) + time.perf_counter() - t0
        return read

    def _probe_tokens(self, text: str) -> list[int]:
        cache = self.__dict__.setdefault("_probe_cache", {})
        if text not in cache:
            cache[text] = self.model.tokenize(text)
        return list(cache[text])


def due(probe: Probe, at: int, last: int | None, transition: bool) -> bool:
    """Whether to probe after ``at`` reasoning tokens (``last``: where the last probe was taken)."""
    if last is None:
        return True  # token 0: the read before any reasoning
    gap = at - last
    return gap >= probe.every or (transition and gap >= max(1, probe.every // 2))


def starts_transition(probe: Probe, before: bytes, piece: bytes) -> bool:
    """Whether the token whose text is ``piece``, after the reasoning ``before``, starts a change of
    course: it begins a paragraph break, or a transition word at the start of a sentence."""
    text = piece.decode("utf-8", errors="ignore")
    previous = before[-8:].decode("utf-8", errors="ignore")
    stripped = text.lstrip()
    for marker in probe.transitions:
        if not marker.strip():  # a break: the first token that completes it
            if marker in previous[-len(marker) + 1:] + text and not previous.endswith(marker):
                return True
        elif len(stripped) >= 3 and (marker.startswith(stripped) or stripped.startswith(marker)):
            end = (previous + text[: len(text) - len(stripped)]).rstrip(" ")
            if not end or end[-1] in ".!?\n":
                return True
    return False
