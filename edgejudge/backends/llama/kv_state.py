"""The prompt's fixed head (everything before the first byte of user data) from the persistent
prefix cache: loaded into the context when it does not hold it already, saved after it is evaluated."""

from __future__ import annotations

import ctypes

from edgejudge.backends.llama import prefix_cache
from edgejudge.backends.llama.context import Context, common_length
from edgejudge.plan import Plan


class PrefixRestore(Context):
    """Restoring a prompt's head from the prefix cache (llama.cpp's sequence state save/load)."""

    def prefix_length(self, plan: Plan, prompt: list[int]) -> int:
        """How many leading tokens of ``prompt`` come from template text alone.

        The head is tokenized on its own and matched against the prompt, so a BPE merge across
        the boundary with the user data ends the shared part where it really ends.
        """
        head = plan.prefix
        if not head or head == plan.prompt:
            return 0
        alone = self.model.prompt_tokens(((head, False),))
        n = common_length(alone, prompt)
        return min(n, len(prompt) - 1)

    def restore_prefix(self, prompt: list[int], n: int) -> tuple[str, int]:
        """Make the context hold ``prompt[:n]``: already there, loaded from the cache file, or
        evaluated and saved. Returns the cache status (hit, miss, off) and tokens loaded.

        The head is evaluated as a batch of its own even with the cache off, so that a verdict's
        numbers are the same whether its head came from the cache or not (logits differ in the
        last digits between batch splits).
        """
        if n < prefix_cache.MIN_TOKENS:
            return "off", 0
        if common_length(prompt, self.tokens) >= n:
            return ("off" if self.prefix_store is None else "hit"), 0  # still in the context
        head = prompt[:n]
        if self.prefix_store is None:
            self.truncate(common_length(head, self.tokens))
            self._decode(head[len(self.tokens):])
            return "off", 0
        payload = self.prefix_store.load(head, self._numerics)
        if payload is not None and self._set_state(payload, head):
            return "hit", n
        self.truncate(common_length(head, self.tokens))
        self._decode(head[len(self.tokens):])
        state = self._get_state()
        if state:
            self.prefix_store.save(head, self._numerics, state)
        return "miss", 0

    def _get_state(self) -> bytes:
        lib = self._lib
        size = lib.llama_state_seq_get_size(self._ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = lib.llama_state_seq_get_data(self._ctx, buf, size, 0)
        return ctypes.string_at(buf, written) if written else b""

    def _set_state(self, payload: bytes, head: list[int]) -> bool:
        """Load a checked state into sequence 0; on any sign it did not take, leave it empty."""
        lib = self._lib
        mem = lib.llama_get_memory(self._ctx)
        lib.llama_memory_clear(mem, True)
        self.tokens = []
        self._logits = None
        buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
        read = lib.llama_state_seq_set_data(self._ctx, buf, len(payload), 0)
        if read != len(payload) or lib.llama_memory_seq_pos_max(mem, 0) != len(head) - 1:
            lib.llama_memory_clear(mem, True)
            return False
        self.tokens = list(head)
        return True
