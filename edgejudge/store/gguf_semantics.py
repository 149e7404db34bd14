"""What llama.cpp asserts about a GGUF's contents, checked before llama.cpp is allowed to see it.

A GGUF can be well formed (every offset inside the file) and still abort the process: llama.cpp
checks many hyper-parameters with ``GGML_ASSERT`` (SIGABRT, no exception, no error record), takes
the vocabulary's strings as unique keys, and finds a wrongly typed tensor only when a graph node
cannot compute it, at the first decode. The rules here are read from llama.cpp's loader
(``llama-model.cpp`` ``load_hparams``, the per-architecture ``load_arch_tensors``,
``llama-vocab.cpp``, ``ggml``'s type traits) for the version edgejudge pins, for the
architectures edgejudge supports (llama, qwen2, qwen3, gemma3: every tensor, its shape and type),
with the architecture-independent rules applied to every other one. Each failure names the key
or tensor; the caller turns it into a :class:`ModelFileError`.
"""

from __future__ import annotations

import math
import struct

from edgejudge.store.gguf_tensors import KNOWN, SemanticError, check_generic, check_known, check_types

LLAMA_MAX_LAYERS = 512  # llama-hparams.h
LLAMA_MAX_EXPERTS = 1024
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")
TOKEN_TYPES = range(7)  # LLAMA_TOKEN_TYPE_UNDEFINED .. LLAMA_TOKEN_TYPE_BYTE
MAX_TOKENS = 1 << 31  # token ids are int32

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9

# Special token ids. llama.cpp disables one that is out of range (with a warning); the ids a judge
# depends on (where a prompt starts, where generation stops) are refused instead, so a judge never
# runs with a silently different stop token. ("seperator" is llama.cpp's spelling.)
SPECIAL_IDS_IN_RANGE = ("bos", "eos", "eot", "eom")
SPECIAL_IDS = SPECIAL_IDS_IN_RANGE + ("unknown", "seperator", "padding", "cls", "mask", "fim_pre", "fim_suf",
                                      "fim_mid", "fim_pad", "fim_rep", "fim_sep", "prefix", "suffix", "middle")

HINT = ("llama.cpp would crash or fail on this file: it was written by a broken converter or edited by hand; "
        "convert or download the model again")


def check(info, reader) -> None:
    """Check ``info`` (a parsed header) with ``reader`` (its open buffer); raise ModelFileError."""
    from edgejudge.errors import ModelFileError

    try:
        _Checker(info, reader).run()
    except SemanticError as exc:
        raise ModelFileError(f"{info.path} cannot be loaded safely: {exc}", hint=HINT) from None


class _Checker:
    def __init__(self, info, reader):
        self.info = info
        self.r = reader
        self.arch = info.architecture
        self.tensors = {t.name: t for t in info.tensors}

    def run(self) -> None:
        n_vocab = self.vocab()
        hp = self.hparams()
        check_types(self.info.tensors)
        if self.arch in KNOWN:
            check_known(self.arch, self.tensors, hp, n_vocab)
        else:
            check_generic(self.arch, self.tensors, hp, n_vocab)

    # metadata -------------------------------------------------------------------------------

    def _key(self, key: str, vtype: int, *, required: bool, what: str = ""):
        if key not in self.r.types:
            if required:
                raise SemanticError(f"the required key {key} is missing")
            return None
        found = self.r.types[key]
        if found != vtype:
            raise SemanticError(f"{key} has GGUF type {found}, llama.cpp requires type {vtype}{what}")
        return self.info.metadata.get(key)

    def _uint(self, name: str, *, required: bool = False, lo: int = 0, hi: int = (1 << 32) - 1):
        key = f"{self.arch}.{name}"
        value = self._key(key, UINT32, required=required, what=" (uint32)")
        if value is not None and not lo <= value <= hi:
            raise SemanticError(f"{key} = {value} is out of range ({lo} to {hi})")
        return value

    def _per_layer(self, name: str, n_layer: int, *, default=None, lo: int = 0, hi: int = (1 << 32) - 1):
        """A key llama.cpp reads as one value for every layer or as an array of n_layer values."""
        key = f"{self.arch}.{name}"
        if key not in self.r.types:
            return [default] * n_layer if default is not None else None
        if self.r.types[key] != ARRAY:
            return [self._uint(name, lo=lo, hi=hi)] * n_layer
        item_type, length, _ = self.r.arrays[key]
        if item_type not in (UINT32, INT32):
            raise SemanticError(f"{key} is an array of GGUF type {item_type}, llama.cpp requires 32-bit integers")
        if length != n_layer:
            raise SemanticError(f"{key} holds {length} values for {n_layer} layers (block_count)")
        values = self._ints(key, item_type, length)
        for i, value in enumerate(values):
            if not lo <= value <= hi:
                raise SemanticError(f"{key}[{i}] = {value} is out of range ({lo} to {hi})")
        return values

    def _ints(self, key: str, item_type: int, length: int) -> list[int]:
        import numpy as np

        _, _, start = self.r.arrays[key]
        dtype = "<u4" if item_type == UINT32 else "<i4"
        # Slice (a copy) rather than a view: a view into the mmap would keep it from closing.
        return np.frombuffer(self.r.buf[start : start + 4 * length], dtype=dtype).tolist()

    def _float(self, name: str, *, required: bool = False, positive: bool = False):
        key = f"{self.arch}.{name}"
        value = self._key(key, FLOAT32, required=required, what=" (float32)")
        if value is not None and (not math.isfinite(value) or value < 0 or (positive and value == 0)):
            raise SemanticError(f"{key} = {value} is not a {'positive' if positive else 'non-negative'} finite number")
        return value

    def hparams(self) -> dict:
        n_layer = self._uint("block_count", required=True, lo=1, hi=LLAMA_MAX_LAYERS)
        hp: dict = {"n_layer": n_layer}
        hp["n_ctx"] = self._uint("context_length", required=True, lo=1)
        hp["n_embd"] = self._uint("embedding_length", required=True, lo=1)
        self._uint("nextn_predict_layers", hi=n_layer)
        n_expert = self._uint("expert_count", hi=LLAMA_MAX_EXPERTS) or 0
        used = self._per_layer("expert_used_count", n_layer, default=0) or [0]
        groups = self._uint("expert_group_count") or 0
        group_used = self._uint("expert_group_used_count") or 0
        used_max = max(used)
        prefix = self.arch
        if used_max > n_expert:
            raise SemanticError(f"{prefix}.expert_used_count = {used_max} is more than {prefix}.expert_count = {n_expert}")
        if n_expert > 0:
            if used_max == 0:
                raise SemanticError(f"{prefix}.expert_count = {n_expert} but {prefix}.expert_used_count is 0 or missing")
            if groups >= n_expert:
                raise SemanticError(f"{prefix}.expert_group_count = {groups} is not below expert_count = {n_expert}")
            if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
                raise SemanticError(f"{prefix}.expert_group_count = {groups} / expert_group_used_count = {group_used} "
                                    f"do not divide expert_count = {n_expert}")
        elif groups:
            raise SemanticError(f"{prefix}.expert_group_count = {groups} on a model without experts")
        hp["n_expert"] = n_expert
        hp["n_ff"] = self._per_layer("feed_forward_length", n_layer)
        heads = self._per_layer("attention.head_count", n_layer)
        heads_kv = self._per_layer("attention.head_count_kv", n_layer) or heads
        for i in range(n_layer if heads else 0):
            h, kv = heads[i], heads_kv[i]
            if h and kv and h % kv:
                raise SemanticError(f"{prefix}.attention.head_count = {h} is not a multiple of "
                                    f"{prefix}.attention.head_count_kv = {kv} (layer {i})")
            if h and not kv and self.arch in KNOWN:
                raise SemanticError(f"{prefix}.attention.head_count_kv is 0 (layer {i})")
        rope = self._key(f"{prefix}.rope.scaling.type", STRING, required=False)
        if rope is not None and rope not in ROPE_SCALING_TYPES:
            raise SemanticError(f"{prefix}.rope.scaling.type = {rope!r} is not one of {', '.join(ROPE_SCALING_TYPES)}")
        self._float("rope.freq_base", positive=True)
        self._float("rope.scaling.factor")
        self._float("attention.layer_norm_rms_epsilon", required=self.arch in KNOWN)
        n_head = heads[0] if heads else 0
        hp["n_head"], hp["n_head_kv"] = n_head, heads_kv[0] if heads_kv else 0
        if self.arch in KNOWN:
            self._known_hparams(hp, heads, heads_kv, n_layer)
        return hp

    def _known_hparams(self, hp: dict, heads, heads_kv, n_layer: int) -> None:
        prefix = self.arch
        if hp["n_ff"] is None:
            raise SemanticError(f"the required key {prefix}.feed_forward_length is missing")
        if heads is None:
            raise SemanticError(f"the required key {prefix}.attention.head_count is missing")
        for name, values in (("feed_forward_length", hp["n_ff"]), ("attention.head_count", heads),
                             ("attention.head_count_kv", heads_kv)):
            if len(set(values)) != 1 or values[0] == 0:
                raise SemanticError(f"{prefix}.{name} must be one positive value for every layer, got {values[:8]}")
        n_head = hp["n_head"]
        head_k = self._uint("attention.key_length", lo=1)
        head_v = self._uint("attention.value_length", lo=1)
        default = hp["n_embd"] // n_head
        if default == 0 and (head_k is None or head_v is None):
            raise SemanticError(f"{prefix}.embedding_length = {hp['n_embd']} is smaller than head_count = {n_head}")
        head_k = head_k or default
        head_v = head_v or default
        n_rot = self._uint("rope.dimension_count", lo=1)
        n_rot = head_k if n_rot is None else n_rot
        # llama.cpp's graph builders for llama, qwen2 and qwen3 assert all three are equal.
        if prefix != "gemma3" and not head_k == head_v == n_rot:
            raise SemanticError(f"{prefix}.attention.key_length = {head_k}, value_length = {head_v} and "
                                f"rope.dimension_count = {n_rot} must be equal for {prefix}")
        if n_rot % 2:
            raise SemanticError(f"{prefix}.rope.dimension_count = {n_rot} is odd")
        if hp["n_expert"]:
            raise SemanticError(f"{prefix}.expert_count = {hp['n_expert']}: edgejudge supports dense {prefix} models only")
        hp.update(head_k=head_k, head_v=head_v, n_ff=hp["n_ff"][0])

    # vocabulary -----------------------------------------------------------------------------

    def vocab(self) -> int:
        model = self._key("tokenizer.ggml.model", STRING, required=True)
        if model in ("none", "no_vocab"):
            raise SemanticError(f"tokenizer.ggml.model is {model!r}: the file has no vocabulary to judge with")
        key = "tokenizer.ggml.tokens"
        if self.r.types.get(key) != ARRAY or self.r.arrays[key][0] != STRING:
            raise SemanticError(f"{key} is missing or not an array of strings")
        _, n_tokens, start = self.r.arrays[key]
        if not 0 < n_tokens < MAX_TOKENS:
            raise SemanticError(f"{key} holds {n_tokens} tokens")
        self._unique_tokens(key, n_tokens, start)
        for name, types in (("tokenizer.ggml.token_type", (INT32,)), ("tokenizer.ggml.scores", (INT32, FLOAT32))):
            if name not in self.r.types:
                continue
            if self.r.types[name] != ARRAY or self.r.arrays[name][0] not in types:
                raise SemanticError(f"{name} must be an array of {'int32' if len(types) == 1 else 'int32 or float32'}")
            length = self.r.arrays[name][1]
            if length < n_tokens:
                raise SemanticError(f"{name} holds {length} values for {n_tokens} tokens")
        if "tokenizer.ggml.token_type" in self.r.types:
            import numpy as np

            start = self.r.arrays["tokenizer.ggml.token_type"][2]
            values = np.frombuffer(self.r.buf[start : start + 4 * n_tokens], dtype="<i4")
            bad = np.flatnonzero((values < TOKEN_TYPES.start) | (values >= TOKEN_TYPES.stop))
            if bad.size:
                raise SemanticError(f"tokenizer.ggml.token_type[{int(bad[0])}] = {int(values[bad[0]])} "
                                    f"is not a token type ({TOKEN_TYPES.start} to {TOKEN_TYPES.stop - 1})")
        for name in SPECIAL_IDS:
            key = f"tokenizer.ggml.{name}_token_id"
            value = self._key(key, UINT32, required=False, what=" (uint32)")
            if value is not None and value >= n_tokens and name in SPECIAL_IDS_IN_RANGE:
                raise SemanticError(f"{key} = {value} is not a token id (the vocabulary holds {n_tokens} tokens)")
        return n_tokens

    def _unique_tokens(self, key: str, n_tokens: int, start: int) -> None:
        # llama.cpp maps each token's text to its id and asserts no two share one; it stores an
        # empty token as "[EMPTY_<id>]", so those names take part too. Byte slices, no decoding:
        # ~40 ms for 150k tokens.
        buf, pos, unpack_from = self.r.buf, start, struct.unpack_from
        seen: dict[bytes, int] = {}
        for i in range(n_tokens):
            length = unpack_from("<Q", buf, pos)[0]
            text = buf[pos + 8 : pos + 8 + length] if length else b"[EMPTY_%d]" % i
            pos += 8 + length
            first = seen.setdefault(text, i)
            if first != i:
                shown = text[:40].decode("utf-8", "replace")
                raise SemanticError(f"{key}: tokens {first} and {i} are the same string {shown!r} "
                                    "(llama.cpp asserts every token is unique)")
