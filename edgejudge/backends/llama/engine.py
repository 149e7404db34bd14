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

import ctypes
import hashlib
import time

import numpy as np

from edgejudge.backends.llama import prefix_cache, runtime, sampling
from edgejudge.backends.llama.grammar import Grammar
from edgejudge.errors import (
    ContextOverflow,
    GrammarError,
    ModelFileError,
    RuntimeFailure,
)
from edgejudge.plan import Append, Generate, LabelRead, Outcome, Plan, ReadLabels

_FLASH = {"auto": -1, "off": 0, "on": 1}
_CTX_STEP = 256


class Engine:
    """One llama.cpp context over a loaded model, holding one sequence of cached tokens."""

    def __init__(self, model: runtime.LoadedModel, *, n_batch: int | None = None, min_ctx: int = 0,
                 prefix_store: prefix_cache.PrefixCache | None = None):
        self.model = model
        self._lib = runtime.llama()
        self._n_batch = n_batch or model.info.n_batch
        self._n_ubatch = min(self._n_batch, model.info.n_ubatch)
        self._min_ctx = min_ctx
        self.prefix_store = prefix_store
        self._ctx = None
        self._batch = None
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

    def _decode(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after the cached ones; keep the logits of the last one."""
        lib, batch = self._lib, self._batch
        for start in range(0, len(tokens), self._batch_cap):
            chunk = tokens[start : start + self._batch_cap]
            base = len(self.tokens)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = base + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 0
            batch.logits[len(chunk) - 1] = 1
            batch.n_tokens = len(chunk)
            rc = lib.llama_decode(self._ctx, batch)
            if rc != 0:
                self._logits = None
                raise RuntimeFailure(
                    f"llama_decode failed (code {rc}) at position {base}: {runtime.recent_errors()}",
                    hint="the context may be full or memory short; try a shorter input",
                )
            self.tokens.extend(chunk)
        pointer = lib.llama_get_logits_ith(self._ctx, -1)
        if not pointer:
            raise RuntimeFailure("llama.cpp returned no logits after a decode")
        self._logits = np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,)).copy()
        if not np.isfinite(self._logits).all():
            # A sane model's logits are finite: NaN or inf means broken weights, and every label
            # read or sampled token after it would be noise (uniform probabilities, a "dead" grammar).
            self._logits = None
            raise ModelFileError(
                f"{self.model.path} is numerically broken: its logits hold NaN or infinity "
                f"(after {len(self.tokens)} tokens)",
                hint="its weights hold NaN/inf values (a broken conversion or quantization): "
                "convert or download the model again", code="model_numeric")

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
        if not tokens:
            raise RuntimeFailure("nothing to evaluate: the prompt has no tokens")
        common = 0
        limit = min(len(tokens), len(self.tokens))
        while common < limit and tokens[common] == self.tokens[common]:
            common += 1
        common = min(common, len(tokens) - 1)
        self.truncate(common)
        self._decode(tokens[common:])
        return common

    def append(self, tokens: list[int]) -> None:
        if tokens:
            self._decode(tokens)

    # -- the persistent prefix cache -------------------------------------------------------

    def prefix_length(self, plan: Plan, prompt: list[int]) -> int:
        """How many leading tokens of ``prompt`` come from template text alone.

        The head is tokenized on its own and matched against the prompt, so a BPE merge across
        the boundary with the user data ends the shared part where it really ends.
        """
        head = plan.prefix
        if not head or head == plan.prompt:
            return 0
        alone = self.model.prompt_tokens(((head, False),))
        n = _common_length(alone, prompt)
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
        if _common_length(prompt, self.tokens) >= n:
            return ("off" if self.prefix_store is None else "hit"), 0  # still in the context
        head = prompt[:n]
        if self.prefix_store is None:
            self.truncate(_common_length(head, self.tokens))
            self._decode(head[len(self.tokens):])
            return "off", 0
        payload = self.prefix_store.load(head, self._numerics)
        if payload is not None and self._set_state(payload, head):
            return "hit", n
        self.truncate(_common_length(head, self.tokens))
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

    def logits(self) -> np.ndarray:
        """Logits for the token after the cached ones (re-evaluating the last token if needed)."""
        if self._logits is None:
            if not self.tokens:
                raise RuntimeFailure("no tokens have been evaluated yet")
            last = self.tokens[-1]
            self.truncate(len(self.tokens) - 1)
            self._decode([last])
        return self._logits

    # -- plans -----------------------------------------------------------------------------

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
        in_context = min(_common_length(prompt, self.tokens), len(prompt) - 1)
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

    # -- generation ------------------------------------------------------------------------

    def grammar(self, gbnf: str) -> Grammar:
        """The compiled grammar for ``gbnf`` (compiled once per model, reset per use)."""
        grammar = self._grammars.get(gbnf)
        if grammar is None:
            grammar = self._grammars[gbnf] = Grammar(self.model, gbnf)
        return grammar

    def _generate(self, step: Generate, rng: np.random.Generator, outcome: Outcome) -> str:
        grammar = None
        if step.grammar:
            grammar = self.grammar(step.grammar)
            grammar.reset()
        stops = [s.encode("utf-8") for s in step.stop]
        out = bytearray()
        start = len(self.tokens)
        reason = "budget"
        n = 0
        while n < step.max_tokens:
            logits = self.logits()
            token = sampling.sample(logits, step.sampling, rng)
            if grammar is not None and not grammar.allows(token):
                token = _constrained_resample(logits, grammar, step.sampling, rng)
            if self.model.is_eog(token):
                reason = "end"
                break
            if grammar is not None:
                grammar.accept(token)
            self.append([token])
            n += 1
            out += self.model.piece(token)
            hit = next((s for s in stops if s in out[-(len(s) + 64):]), None)
            if hit is not None:
                reason = "stop"
                cut = out.rfind(hit)
                if cut + len(hit) < len(out):
                    self._trim_overrun(start, bytes(out[: cut + len(hit)]))
                del out[cut:]
                break
        outcome.generated_tokens += n
        if step.think:
            outcome.think_tokens += n
        outcome.exhausted[step.name] = reason == "budget"
        if reason == "stop":
            if step.on_stop:
                self.append(self.model.tokenize(step.on_stop))
        elif step.close:
            self.append(self.model.tokenize(step.close))
        return out.decode("utf-8", errors="replace")

    def _trim_overrun(self, start: int, kept: bytes) -> None:
        """The last token ran past a stop text (``">[["`` after ``<answer``): drop it and feed the
        text up to the stop's end instead, so that what follows starts exactly there."""
        generated = self.tokens[start:]
        before = b"".join(self.model.piece(t) for t in generated[:-1])
        self.truncate(len(self.tokens) - 1)
        rest = kept[len(before):].decode("utf-8", errors="replace")
        if rest:
            self.append(self.model.tokenize(rest))

    # -- labels ----------------------------------------------------------------------------

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

    def _read_labels(self, step: ReadLabels, context: str) -> LabelRead:
        paths = self.label_paths(step.labels, context, step.terminator)
        start = len(self.tokens)
        logits = self.logits()
        shared = _common_prefix(list(paths.values()))
        shared_logp = 0.0
        for token in shared:
            shared_logp += float(sampling.log_softmax(logits)[token])
            self.append([token])
            logits = self._logits
        scores = self._diverge({k: v[len(shared):] for k, v in paths.items()}, logits)
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
            forced = _common_prefix(list(rest.values()))
            mark = len(self.tokens)
            self.append([token, *forced])
            inner = self._diverge({k: v[len(forced):] for k, v in rest.items()}, self._logits)
            self.truncate(mark)
            for label in members:
                scores[label] = float(logp[token]) + inner[label]
        return scores


RESAMPLE_WIDTH = 256


def _constrained_resample(logits: np.ndarray, grammar: Grammar, settings, rng: np.random.Generator) -> int:
    """A token the grammar allows, after the sampled one was rejected.

    The most likely tokens are checked one by one (cheap) before the whole vocabulary is masked
    (262k pieces to match for Gemma 3): greedy takes the first allowed one, which is exactly the
    masked argmax; sampling draws among the allowed ones of the 256 most likely. Only when none of
    those is allowed is the full mask computed.
    """
    width = min(RESAMPLE_WIDTH, logits.size - 1)
    top = np.argpartition(-logits, width)[:width]
    ranked = top[np.argsort(-logits[top], kind="stable")]
    allowed = []
    for token in ranked:
        if np.isfinite(logits[token]) and grammar.allows(int(token)):
            allowed.append(int(token))
            if settings.temperature <= 0:
                return allowed[0]
    if allowed:
        narrowed = np.full_like(logits, -np.inf)
        narrowed[allowed] = logits[allowed]
        return sampling.sample(narrowed, settings, rng)
    masked = grammar.mask(logits)
    if not np.isfinite(masked).any():
        raise GrammarError("the grammar allows no token here (dead end)",
                           hint="this is a bug in a judge format's grammar; please report it")
    return sampling.sample(masked, settings, rng)


def _common_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_prefix(paths: list[list[int]]) -> list[int]:
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
