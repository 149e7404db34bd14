"""Scalar rewards: the last token's final hidden state through the model's score head.

A reward model (``formats/reward.py``) is a Qwen2/Qwen3 backbone in the GGUF and a one-output score
head in its metadata (``convert/score_head.py``). llama.cpp (llama-graph.cpp, ``build_pooling``)
gives, with embeddings on and LAST pooling, the row of ``result_norm`` (the output of the final
RMSNorm, the tensor the LM head would read) at the token with the highest position in the batch:
exactly the hidden state transformers' ``Qwen3ForSequenceClassification`` feeds its ``score``
layer at the last token. edgejudge applies the head (a dot product, in float64).

With embeddings on, llama.cpp outputs every token of a batch and computes the LM head for each
(``output_all`` in ``llama_context::decode``): a 151,936-row matrix per token, which would add ~35%
to a Qwen3-0.6B forward pass (155.6M multiply-adds on top of 440M; counted from the shapes). So a conversation is evaluated with embeddings off up to its last token (one output),
and only the last token is decoded with embeddings on. The context keeps one sequence in its KV
cache across conversations and items, as the judges' engine does: the second response of a pair
reuses the evaluated prompt, and so does the next item asking the same thing.
"""

from __future__ import annotations

import ctypes
import math
import time

import numpy as np

from edgejudge.backends.llama import runtime
from edgejudge.backends.llama.context import Context, common_length
from edgejudge.errors import ModelFileError, RuntimeFailure
from edgejudge.plan import Outcome, RewardPlan

WEIGHT_KEY = "edgejudge.score_head.weight"  # as convert/score_head.py writes it


def head_of(info, n_embd: int) -> np.ndarray:
    """The score head in a GGUF header (``gguf_file.GGUFInfo``), checked against the model's width."""
    weight = info.get(WEIGHT_KEY)
    fix = "convert the reward model's checkpoint again with edgejudge convert (or edgejudge pull)"
    if not isinstance(weight, list):
        raise ModelFileError(f"{info.path} has no score head ({WEIGHT_KEY}): it is not a reward model edgejudge "
                             "converted", hint=fix)
    if len(weight) != n_embd or not all(isinstance(v, float) and math.isfinite(v) for v in weight):
        raise ModelFileError(f"{info.path}: its score head has {len(weight)} values (finite numbers expected, "
                             f"one per hidden unit: {n_embd})", hint=fix)
    return np.asarray(weight, dtype=np.float64)


class RewardEngine(Context):
    """Runs :class:`RewardPlan`\\ s on one context with LAST pooling."""

    def __init__(self, model: runtime.LoadedModel, weight: np.ndarray, *, min_ctx: int = 0):
        super().__init__(model, min_ctx=min_ctx)
        self.weight = weight
        self.n_embd = int(self._lib.llama_model_n_embd(model.ptr))

    def _configure(self, params) -> None:
        params.pooling_type = self._lib.LLAMA_POOLING_TYPE_LAST
        params.embeddings = False  # switched on for each conversation's last token only

    def run(self, plan: RewardPlan, *, seed: int = 0) -> Outcome:
        outcome = Outcome()
        started = time.perf_counter()
        sequences = [(name, self.model.prompt_tokens(segments)) for name, segments in plan.sequences]
        self.reserve(max(len(tokens) for _, tokens in sequences))
        outcome.n_ctx = self.n_ctx
        for name, tokens in sequences:
            reused = min(common_length(tokens, self.tokens), len(tokens) - 1)
            self.truncate(reused)
            if len(tokens) - 1 > reused:
                self._decode(tokens[reused:-1])
            hidden = self._pooled_last(tokens[-1])
            outcome.rewards[name] = float(hidden @ self.weight)
            outcome.prompt_tokens += len(tokens)
            outcome.reused_tokens += reused
        outcome.timings["prompt_s"] = outcome.timings["total_s"] = time.perf_counter() - started
        return outcome

    def _pooled_last(self, token: int) -> np.ndarray:
        """Decode ``token`` after the cached ones with embeddings on; its pooled (LAST) hidden state."""
        lib, batch = self._lib, self._batch
        batch.token[0] = token
        batch.pos[0] = len(self.tokens)
        batch.n_seq_id[0] = 1
        batch.seq_id[0][0] = 0
        batch.logits[0] = True
        batch.n_tokens = 1
        lib.llama_set_embeddings(self._ctx, True)
        try:
            rc = lib.llama_decode(self._ctx, batch)
            if rc != 0:
                raise RuntimeFailure(f"llama_decode failed (code {rc}) at position {len(self.tokens)}: "
                                     f"{runtime.recent_errors()}", hint="the context may be full or memory short")
            self.tokens.append(token)
            self._logits = None
            pointer = lib.llama_get_embeddings_seq(self._ctx, 0)
            if not pointer:
                raise RuntimeFailure("llama.cpp returned no pooled embedding (LAST pooling) after a decode")
            hidden = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)),
                                           shape=(self.n_embd,)).astype(np.float64)
        finally:
            lib.llama_set_embeddings(self._ctx, False)
        if not np.isfinite(hidden).all():
            raise ModelFileError(f"{self.model.path} is numerically broken: its hidden state holds NaN or infinity",
                                 hint="its weights hold NaN/inf values: convert or download the model again",
                                 code="model_numeric")
        return hidden
