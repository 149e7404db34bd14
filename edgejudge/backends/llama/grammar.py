"""GBNF grammars compiled against a vocabulary, and checking tokens against them.

Why not llama-cpp-python's ``LlamaGrammar``: its sampler masks the whole vocabulary before every
token (150k–262k pieces to match), and it does not check the pointer llama.cpp returns for a
grammar that fails to parse. Here a grammar is compiled once per model through
``llama_sampler_init_grammar`` (NULL → :class:`GrammarError`), and the engine asks it about the one
token it sampled (:meth:`Grammar.allows`) before paying for the full mask (:meth:`Grammar.mask`),
the order upstream llama.cpp's own sampler uses.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edgejudge.backends.llama import runtime
from edgejudge.errors import GrammarError

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


class Grammar:
    """A GBNF grammar compiled against one model's vocabulary, with its parse state."""

    def __init__(self, model: runtime.LoadedModel, gbnf: str, root: str = "root"):
        lib = runtime.llama()
        self._lib = lib
        self.gbnf = gbnf
        self._smpl = lib.llama_sampler_init_grammar(model.vocab, gbnf.encode("utf-8"), root.encode())
        if not self._smpl:
            detail = runtime.recent_errors(3)
            raise GrammarError(
                f"the grammar does not compile against {model.path.name}: {detail or 'parse error'}",
                hint="this is a bug in a judge format's grammar; please report it with the grammar text",
            )
        self._n_vocab = model.n_vocab
        self._one = (lib.llama_token_data * 1)()
        self._one_array = lib.llama_token_data_array(self._one, 1, -1, False)
        # The full-vocabulary candidate array, made on the first mask (ctypes objects).
        self._all: Any = None
        self._all_view: Any = None
        self._all_array: Any = None

    def allows(self, token: int) -> bool:
        """Whether ``token`` may come next (one candidate checked, not the vocabulary)."""
        self._one[0].id = token
        self._one[0].logit = 0.0
        self._one_array.size = 1
        self._one_array.selected = -1
        self._lib.llama_sampler_apply(self._smpl, ctypes.byref(self._one_array))
        return self._one[0].logit != float("-inf")

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """A copy of ``logits`` with every token the grammar forbids set to -inf."""
        if self._all is None:
            self._all = (self._lib.llama_token_data * self._n_vocab)()
            self._all_view = np.frombuffer(self._all, dtype=_TOKEN_DATA)
            self._all_view["id"] = np.arange(self._n_vocab, dtype=np.int32)
            self._all_array = self._lib.llama_token_data_array(self._all, self._n_vocab, -1, False)
        view = self._all_view
        view["logit"] = logits[: self._n_vocab]
        self._all_array.size = self._n_vocab
        self._all_array.selected = -1
        self._all_array.sorted = False
        self._lib.llama_sampler_apply(self._smpl, ctypes.byref(self._all_array))
        return view["logit"].copy()

    def accept(self, token: int) -> None:
        """Advance the parse state; only call with a token :meth:`allows` approved."""
        self._lib.llama_sampler_accept(self._smpl, token)

    def reset(self) -> None:
        self._lib.llama_sampler_reset(self._smpl)

    def close(self) -> None:
        if self._smpl:
            self._lib.llama_sampler_free(self._smpl)
            self._smpl = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
