"""Labels read from the logits: each label's tokens after the context, probabilities taken at the
token where the labels diverge and renormalised over the set."""

from __future__ import annotations

import numpy as np

from edgejudge.backends.llama import sampling
from edgejudge.backends.llama.context import Context
from edgejudge.errors import GrammarError
from edgejudge.plan import LabelRead, ReadLabels


class LabelReading(Context):
    """Reading a plan's labels."""

    def label_paths(self, labels: tuple[str, ...], context: str, terminator: str = "") -> dict[str, list[int]]:
        """Each label's tokens as they would follow ``context`` (BPE merges across the boundary
        are avoided by tokenizing context + label and keeping what comes after the context)."""
        base = self.model.tokenize(context)

        def path(text: str) -> list[int]:
            full = self.model.tokenize(context + text)
            if full[: len(base)] == base and len(full) > len(base):
                return full[len(base):]
            return self.model.tokenize(text)

        paths = {label: path(label) for label in labels}
        if _has_prefix_conflict(paths) and terminator:
            paths = {label: path(label + terminator) for label in labels}
        if _has_prefix_conflict(paths):
            raise GrammarError(f"labels {labels} cannot be told apart by their tokens",
                               hint="give ReadLabels a terminator that follows every label")
        return paths

    def label_prefix(self, step: ReadLabels, context: str) -> tuple[dict[str, list[int]], list[int]]:
        """Each label's tokens after ``context``, and the tokens all of them start with (forced
        text, evaluated in the same decode as what comes before it)."""
        paths = self.label_paths(step.labels, context, step.terminator)
        return paths, shared_prefix(list(paths.values()))

    def _read_labels(self, step: ReadLabels, paths: dict[str, list[int]], rows: list[np.ndarray]) -> LabelRead:
        """The label distribution, the labels' shared tokens already evaluated: ``rows`` are the
        logits before each of them and after the last."""
        shared = shared_prefix(list(paths.values()))
        assert len(rows) == len(shared) + 1
        start = len(self.tokens) - len(shared)
        shared_logp = sum(float(sampling.log_softmax(row)[token]) for row, token in zip(rows, shared))
        scores = self._diverge({k: v[len(shared):] for k, v in paths.items()}, rows[-1])
        self.truncate(start)
        values = np.array([scores[label] for label in step.labels])
        peak = values.max()
        if not np.isfinite(peak):
            probs = np.full(len(values), 1.0 / len(values))
            mass = 0.0
        else:
            weights = np.exp(values - peak)
            probs = weights / weights.sum()
            mass = float(np.exp(shared_logp + peak) * weights.sum())
        return LabelRead({label: float(p) for label, p in zip(step.labels, probs)}, min(mass, 1.0))

    def _diverge(self, suffixes: dict[str, list[int]], logits: np.ndarray) -> dict[str, float]:
        logp = sampling.log_softmax(logits)
        groups: dict[int, list[str]] = {}
        for label, path in suffixes.items():
            groups.setdefault(path[0], []).append(label)
        scores = {}
        for token, members in groups.items():
            if len(members) == 1:
                scores[members[0]] = float(logp[token])
                continue
            rest = {label: suffixes[label][1:] for label in members}
            forced = shared_prefix(list(rest.values()))
            mark = len(self.tokens)
            self.append([token, *forced])
            inner = self._diverge({k: v[len(forced):] for k, v in rest.items()}, self.logits())
            self.truncate(mark)
            for label in members:
                scores[label] = float(logp[token]) + inner[label]
        return scores


def shared_prefix(paths: list[list[int]]) -> list[int]:
    if not paths:
        return []
    n = min(len(p) for p in paths)
    i = 0
    while i < n and all(p[i] == paths[0][i] for p in paths):
        i += 1
    return paths[0][:i]


def _has_prefix_conflict(paths: dict[str, list[int]]) -> bool:
    values = list(paths.values())
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if i != j and len(a) <= len(b) and b[: len(a)] == a:
                return True
    return False
