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
        self.feed(prompt)
        outcome.reused_tokens = max(in_context, outcome.prefix_cache_tokens)  # tokens not evaluated
        outcome.timings["prompt_s"] = time.perf_counter() - started
        rng = np.random.default_rng(seed)
        tail = plan.prompt[-64:]
        for step in plan.steps:
            if isinstance(step, Append):
                self.append(self.model.tokenize(step.text))
                tail = (tail + step.text)[-64:]
            elif isinstance(step, Generate):
                t0 = time.perf_counter()
                text = self._generate(step, rng, outcome)
                outcome.timings[f"{step.name}_s"] = time.perf_counter() - t0
                outcome.texts[step.name] = text
                tail = (tail + text)[-64:]
            elif isinstance(step, ReadLabels):
                t0 = time.perf_counter()
                outcome.labels[step.name] = self._read_labels(step, tail)
                outcome.timings[f"{step.name}_s"] = time.perf_counter() - t0
        outcome.timings["total_s"] = time.perf_counter() - started
        return outcome
