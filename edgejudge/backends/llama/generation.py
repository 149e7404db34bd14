"""Free and constrained text: sampling token by token, stop texts, grammars checked one token at a time.

Constrained text samples a token first and asks the grammar about that one token; the full
vocabulary mask is computed only when the grammar rejects it.
"""

from __future__ import annotations

import numpy as np

from edgejudge.backends.llama import probes, sampling
from edgejudge.backends.llama.grammar import Grammar
from edgejudge.backends.llama.probes import Probing
from edgejudge.errors import GrammarError
from edgejudge.plan import Generate, Outcome


class Generation(Probing):
    """Generating the text steps of a plan (probing reasoning as it goes: :mod:`.probes`)."""

    def grammar(self, gbnf: str) -> Grammar:
        """The compiled grammar for ``gbnf`` (compiled once per model, reset per use)."""
        grammar = self._grammars.get(gbnf)
        if grammar is None:
            grammar = self._grammars[gbnf] = Grammar(self.model, gbnf)
        return grammar

    def _generate(self, step: Generate, rng: np.random.Generator, outcome: Outcome,
                  tail: str = "") -> tuple[str, list[int], str]:
        """Generate ``step``'s text after what is cached; returns the text and the tokens (and their
        text) that must follow it but are not evaluated yet: the last sampled token and the step's
        closing text go into the next decode with whatever comes after them. ``tail`` is the text
        before it (for the labels' tokens at a probe)."""
        grammar = None
        if step.grammar:
            grammar = self.grammar(step.grammar)
            grammar.reset()
        stops = [s.encode("utf-8") for s in step.stop]
        out = bytearray()
        start = len(self.tokens)
        reason = "budget"
        n = 0
        pending: list[int] = []
        probe, last_probe, transition = step.probe, None, False
        if probe is not None and probe.every <= 0:
            probe = None
        watch = getattr(self, "watch", None) if step.think else None
        while n < step.max_tokens:
            # Probes come before the last sampled token is evaluated: at a transition, the probe
            # reads what was reasoned up to the change of course ("\n\n" or "Wait" not yet fed).
            at = n - len(pending)
            if probe is not None and probes.due(probe, at, last_probe, transition):
                last_probe = at
                kept = len(out) - (len(self.model.piece(pending[0])) if pending else 0)
                context = tail + bytes(out[max(0, kept - 64):kept]).decode("utf-8", errors="replace")
                if self.probe(probe, context, outcome, at, watch, step.max_tokens):
                    del out[kept:]  # sampled but never evaluated: not part of the reasoning
                    n, pending, reason = at, [], "settled"
                    break
            logits = self.extend(pending)[-1]
            pending = []
            token = sampling.sample(logits, step.sampling, rng)
            if grammar is not None and not grammar.allows(token):
                token = _constrained_resample(logits, grammar, step.sampling, rng)
            if self.model.is_eog(token):
                reason = "end"
                break
            if grammar is not None:
                grammar.accept(token)
            pending = [token]
            n += 1
            piece = self.model.piece(token)
            if probe is not None:
                transition = probes.starts_transition(probe, bytes(out[-8:]), piece)
            out += piece
            if watch is not None:
                watch(n, step.max_tokens, None)
            hit = next((s for s in stops if s in out[-(len(s) + 64):]), None)
            if hit is not None:
                reason = "stop"
                cut = out.rfind(hit)
                if cut + len(hit) < len(out):
                    pending = self._overrun(start, bytes(out[: cut + len(hit)]))
                del out[cut:]
                break
        outcome.generated_tokens += n
        if step.think:
            outcome.think_tokens += n
            outcome.think_exit = {"stop": "closed", "end": "closed"}.get(reason, reason)
        outcome.exhausted[step.name] = reason == "budget"
        after = step.on_stop if reason == "stop" else step.close
        if after:
            pending += self.model.tokenize(after)
        return out.decode("utf-8", errors="replace"), pending, after

    def _overrun(self, start: int, kept: bytes) -> list[int]:
        """The last token (not evaluated yet) ran past a stop text (``">[["`` after ``<answer``):
        what to feed instead of it, the text up to the stop's end, so that what follows starts
        exactly there."""
        before = b"".join(self.model.piece(t) for t in self.tokens[start:])
        rest = kept[len(before):].decode("utf-8", errors="replace")
        return self.model.tokenize(rest) if rest else []


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
