"""The engine: runs a :class:`~edgejudge.plan.Plan` on a loaded model. It knows nothing of judges.

* The context is sized from the request (prompt + step budgets), up to the trained context; a
  request that cannot fit is a :class:`ContextOverflow`, never a silent truncation.
* Tokens already in the KV cache are reused: a new prompt is compared with what the cache holds
  and only the part after the longest common prefix is evaluated.
* The prompt's fixed head (everything before the first byte of user data) is loaded from the
  persistent prefix cache when the context does not hold it already, and saved there after it
  is evaluated (``prefix_cache``).
* Labels are read from the logits at the token where they diverge, renormalised over the set.
* Logits that are not finite (NaN weights) are a :class:`ModelFileError` at the decode that made
  them, before any label or token is taken from them.
* Constrained text samples a token first and asks the grammar about that one token; the full
  vocabulary mask is computed only when the grammar rejects it.
"""

from __future__ import annotations

import time

import numpy as np

from edgejudge.backends.llama.context import common_length
from edgejudge.backends.llama.generation import Generation
from edgejudge.backends.llama.kv_state import PrefixRestore
from edgejudge.backends.llama.labels import LabelReading
from edgejudge.plan import Append, Generate, Outcome, Plan, ReadLabels


class Engine(PrefixRestore, Generation, LabelReading):
    """Runs plans on one llama.cpp context (:mod:`.context`): the prompt with its head from the prefix
    cache (:mod:`.kv_state`), then each step: text (:mod:`.generation`) or labels (:mod:`.labels`)."""

    def budget(self, plan: Plan) -> int:
        """Tokens the steps of ``plan`` may add after its prompt, at most."""
        total = 0
        for step in plan.steps:
            if isinstance(step, Append):
                total += len(self.model.tokenize(step.text))
            elif isinstance(step, Generate):
                total += step.max_tokens + len(self.model.tokenize(step.close))
                if step.probe is not None:  # a probe's tokens are removed again, but need room
                    probe = step.probe
                    total += len(self.model.tokenize(probe.text)) + 1 + max(
                        len(self.model.tokenize(label + probe.terminator)) for label in probe.labels)
            elif isinstance(step, ReadLabels):
                total += max(len(self.model.tokenize(label + step.terminator)) for label in step.labels) + 1
        return total

    def run(self, plan: Plan, *, seed: int = 0) -> Outcome:
        outcome = Outcome()
        started = time.perf_counter()
        prompt = self.model.prompt_tokens(plan.segments)
        self.reserve(len(prompt) + self.budget(plan))
        outcome.n_ctx = self.n_ctx
        outcome.prompt_tokens = len(prompt)
        in_context = min(common_length(prompt, self.tokens), len(prompt) - 1)
        outcome.prefix_cache, outcome.prefix_cache_tokens = self.restore_prefix(prompt, self.prefix_length(plan, prompt))
        outcome.reused_tokens = max(in_context, outcome.prefix_cache_tokens)  # tokens not evaluated
        rng = np.random.default_rng(seed)
        # Text that is forced (the prompt, fixed appends, a generated step's closing text, the
        # tokens all labels start with) is evaluated in one decode with what follows it, up to
        # the next point where logits are needed: each decode of a 4B model on a CPU costs as
        # much as ~8 prompt tokens even for one token.
        pending, tail, first = prompt, plan.prompt[-64:], True
        steps, i = plan.steps, 0
        while True:
            while i < len(steps) and isinstance(steps[i], Append):
                text = steps[i].text  # type: ignore[union-attr]
                pending = pending + self.model.tokenize(text)
                tail = (tail + text)[-64:]
                i += 1
            step = steps[i] if i < len(steps) else None
            if step is None and not pending:
                break
            t0 = time.perf_counter()
            paths, shared = self.label_prefix(step, tail) if isinstance(step, ReadLabels) else ({}, [])
            evaluate = self.feed_rows if first else self.extend
            rows = evaluate(pending + shared, len(shared) + 1)
            if first:
                t0 = time.perf_counter()
                outcome.timings["prompt_s"] = t0 - started
                first = False
            pending = []
            if isinstance(step, ReadLabels):
                read = outcome.labels[step.name] = self._read_labels(step, paths, rows)
                if step.keep:  # the label's tokens join the next decode with what follows them
                    pending = self.label_paths((read.best,), tail)[read.best]
                    tail = (tail + read.best)[-64:]
                outcome.timings[f"{step.name}_s"] = time.perf_counter() - t0
            elif isinstance(step, Generate):
                text, pending, after = self._generate(step, rng, outcome, tail)
                outcome.timings[f"{step.name}_s"] = time.perf_counter() - t0
                outcome.texts[step.name] = text
                tail = (tail + text + after)[-64:]
            else:
                break
            i += 1
        outcome.timings["total_s"] = time.perf_counter() - started
        return outcome
