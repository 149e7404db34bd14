"""One llama.cpp context over a loaded model: its size, its KV cache of one sequence, evaluation.

* The context is sized from the request (prompt + step budgets), up to the trained context; a
  request that cannot fit is a :class:`ContextOverflow`, never a silent truncation.
* Tokens already in the KV cache are reused: a new prompt is compared with what the cache holds
  and only the part after the longest common prefix is evaluated.
* Logits that are not finite (NaN weights) are a :class:`ModelFileError` at the decode that made
  them, before any label or token is taken from them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from edgejudge.backends.llama import prefix_cache, runtime
from edgejudge.backends.llama.grammar import Grammar
from edgejudge.errors import ContextOverflow, ModelFileError, RuntimeFailure

_FLASH = {"auto": -1, "off": 0, "on": 1}
_CTX_STEP = 256


class Context:
    """One llama.cpp context over a loaded model, holding one sequence of cached tokens."""

    def __init__(self, model: runtime.LoadedModel, *, n_batch: int | None = None, min_ctx: int = 0,
                 prefix_store: prefix_cache.PrefixCache | None = None):
        self.model = model
        self._lib = runtime.llama()
        self._n_batch = n_batch or model.info.n_batch
        self._n_ubatch = min(self._n_batch, model.info.n_ubatch)
        self._min_ctx = min_ctx
        self.prefix_store = prefix_store
        # llama.cpp handles (ctypes objects, untyped in llama-cpp-python)
        self._ctx: Any = None
        self._batch: Any = None
        self.n_ctx = 0
        self.tokens: list[int] = []
        self._logits: np.ndarray | None = None
        self._grammars: dict[str, Grammar] = {}

    # -- context ---------------------------------------------------------------------------

    def reserve(self, n_tokens: int) -> None:
        """Make sure the context holds ``n_tokens`` positions (recreating it if it must grow)."""
        limit = self.model.n_ctx_train
        if n_tokens > limit:
            raise ContextOverflow(
                f"the request needs {n_tokens} tokens but {self.model.path.name} was trained on "
                f"{limit}",
                hint="shorten the prompt or responses, lower --max-explain-tokens / --think-budget, "
                "or use a model with a longer context",
            )
        if self._ctx is not None and n_tokens <= self.n_ctx:
            return
        wanted = max(n_tokens, self._min_ctx)
        if self._ctx is not None:
            wanted = max(wanted, 2 * self.n_ctx)  # growing again soon would drop the cache again
        size = min(limit, -(-wanted // _CTX_STEP) * _CTX_STEP)
        self._free_context()
        lib, info = self._lib, self.model.info
        params = lib.llama_context_default_params()
        params.n_ctx = size
        params.n_batch = min(self._n_batch, size)
        params.n_ubatch = min(self._n_ubatch, size)
        params.n_seq_max = 1
        params.n_threads = info.threads
        params.n_threads_batch = info.threads
        params.flash_attn_type = _FLASH[info.flash_attn]
        params.no_perf = True
        self._configure(params)
        ctx = lib.llama_init_from_model(self.model.ptr, params)
        if not ctx:
            raise RuntimeFailure(
                f"llama.cpp could not create a context of {size} tokens: {runtime.recent_errors()}",
                hint="a smaller request or fewer GPU layers (--gpu-layers) needs less memory",
            )
        self._ctx = ctx
        self.n_ctx = size
        self._batch = lib.llama_batch_init(params.n_batch, 0, 1)
        self._batch_cap = params.n_batch
        self._numerics = {"n_batch": params.n_batch, "n_ubatch": params.n_ubatch, "type_k": int(params.type_k),
                          "type_v": int(params.type_v), "flash_attn": info.flash_attn,
                          "extra_bufts": info.extra_bufts, "gpu_layers": info.gpu_layers,
                          "llama_cpp": info.llama_cpp, "llama_cpp_python": info.llama_cpp_python,
                          "build": hashlib.sha256(info.system_info.encode()).hexdigest()[:16]}
        self.tokens = []
        self._logits = None

    def _configure(self, params) -> None:
        """Settings a kind of context adds to the defaults (a reward model's pooling); none here."""

    def _free_context(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            self._lib.llama_free(self._ctx)
            self._ctx = None
        self.tokens = []
        self._logits = None

    def close(self) -> None:
        for grammar in self._grammars.values():
            grammar.close()
        self._grammars.clear()
        self._free_context()

    # -- evaluation ------------------------------------------------------------------------

    def _decode(self, tokens: list[int], keep: int = 1) -> list[np.ndarray]:
        """Evaluate ``tokens`` after the cached ones; return (and keep the last of) the logits at the
        last ``keep`` of them."""
        lib, batch = self._lib, self._batch
        first_kept = len(tokens) - max(1, min(keep, len(tokens)))
        rows: list[np.ndarray] = []
        for start in range(0, len(tokens), self._batch_cap):
            chunk = tokens[start : start + self._batch_cap]
            base = len(self.tokens)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = base + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = start + i >= first_kept
            batch.n_tokens = len(chunk)
            rc = lib.llama_decode(self._ctx, batch)
            if rc != 0:
                self._logits = None
                raise RuntimeFailure(
                    f"llama_decode failed (code {rc}) at position {base}: {runtime.recent_errors()}",
                    hint="the context may be full or memory short; try a shorter input",
                )
            self.tokens.extend(chunk)
            for i in range(max(0, first_kept - start), len(chunk)):
                pointer = lib.llama_get_logits_ith(self._ctx, i)
                if not pointer:
                    raise RuntimeFailure("llama.cpp returned no logits after a decode")
                rows.append(np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,)).copy())
        if not all(np.isfinite(row).all() for row in rows):
            # A sane model's logits are finite: NaN or inf means broken weights, and every label
            # read or sampled token after it would be noise (uniform probabilities, a "dead" grammar).
            self._logits = None
            raise ModelFileError(
                f"{self.model.path} is numerically broken: its logits hold NaN or infinity "
                f"(after {len(self.tokens)} tokens)",
                hint="its weights hold NaN/inf values (a broken conversion or quantization): "
                "convert or download the model again", code="model_numeric")
        self._logits = rows[-1]
        return rows

    def truncate(self, n: int) -> None:
        """Forget cached tokens from position ``n`` on."""
        if n < len(self.tokens):
            mem = self._lib.llama_get_memory(self._ctx)
            if not self._lib.llama_memory_seq_rm(mem, 0, n, -1):
                self._lib.llama_memory_clear(mem, True)
                n = 0
            del self.tokens[n:]
            self._logits = None

    def feed(self, tokens: list[int]) -> int:
        """Make the cache hold exactly ``tokens``, reusing their longest cached prefix.

        Returns how many tokens were reused. At least the last token is evaluated, so that its
        logits are fresh.
        """
        reused = min(common_length(tokens, self.tokens), len(tokens) - 1)
        self.feed_rows(tokens, 1)
        return max(reused, 0)

    def feed_rows(self, tokens: list[int], keep: int = 1) -> list[np.ndarray]:
        """:meth:`feed`, evaluating at least the last ``keep`` tokens; returns their logits."""
        if not tokens:
            raise RuntimeFailure("nothing to evaluate: the prompt has no tokens")
        keep = max(1, min(keep, len(tokens)))
        common = min(common_length(tokens, self.tokens), len(tokens) - keep)
        self.truncate(common)
        return self._decode(tokens[common:], keep)

    def extend(self, tokens: list[int], rows: int = 1) -> list[np.ndarray]:
        """Evaluate ``tokens`` after the cached ones in one decode; return the logits at the last
        ``rows`` positions, which may reach back before ``tokens`` (the logits that predicted the
        first of them): kept from the last decode, or evaluated again."""
        back = rows - len(tokens)
        before: list[np.ndarray] = []
        if back == 1 and self._logits is not None:
            before = [self._logits]
        elif back > 0:
            if back > len(self.tokens):
                raise RuntimeFailure(f"no logits {back} tokens back: only {len(self.tokens)} are cached")
            redo = self.tokens[-back:]
            self.truncate(len(self.tokens) - back)
            tokens = redo + tokens
        if not tokens:
            return before
        return before + self._decode(tokens, rows - len(before))

    def append(self, tokens: list[int]) -> None:
        if tokens:
            self._decode(tokens)

    def logits(self) -> np.ndarray:
        """Logits for the token after the cached ones (re-evaluating the last token if needed)."""
        if self._logits is None:
            if not self.tokens:
                raise RuntimeFailure("no tokens have been evaluated yet")
            last = self.tokens[-1]
            self.truncate(len(self.tokens) - 1)
            self._decode([last])
        assert self._logits is not None  # _decode keeps the last token's logits or raises
        return self._logits


def common_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
