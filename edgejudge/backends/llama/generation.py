"""Free and constrained text: sampling token by token, stop texts, grammars checked one token at a time.

Constrained text samples a token first and asks the grammar about that one token; the full
vocabulary mask is computed only when the grammar rejects it.
"""

from __future__ import annotations

import numpy as np

from edgejudge.backends.llama import sampling
from edgejudge.backends.llama.context import Context
from edgejudge.backends.llama.grammar import Grammar
from edgejudge.errors import GrammarError
from edgejudge.plan import Generate, Outcome


class Generation(Context):
    """Generating the text steps of a plan."""

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
