"""A prompt's tokens with user data kept inert: text in a response that spells a special token
(``<|im_end|>``, ``<think>``) is tokenized as text, never as the token itself."""

from __future__ import annotations

import re
from typing import Any


class InertData:
    """Prompt tokenization for :class:`~edgejudge.backends.llama.runtime.LoadedModel`."""

    # Provided by the loaded model.
    _lib: Any
    vocab: Any
    n_vocab: int
    bos: int
    add_bos: bool
    _controls: Any

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        raise NotImplementedError

    def piece(self, token: int) -> bytes:
        raise NotImplementedError

    def prompt_tokens(self, segments) -> list[int]:
        """Tokens of a prompt given as (text, is_user_data) segments, with exactly one BOS where
        the model wants one.

        The whole text is tokenized at once with special tokens parsed, as the judges' authors did,
        unless user data holds the text of a special token: then that data is tokenized as plain
        text, so a response cannot end the judge's turn, open or close its reasoning, or forge its
        verdict. That covers every token that is not a normal one: CONTROL tokens (``<|im_end|>``)
        and USER_DEFINED ones (``<think>``, ``</think>``, ``<tool_call>``), which llama.cpp parses
        even with special-token parsing off.
        """
        text = "".join(t for t, _ in segments)
        data = bytearray(len(text))
        at = 0
        for piece, is_data in segments:
            if is_data:
                data[at:at + len(piece)] = b"\1" * len(piece)
            at += len(piece)
        pattern, _, _ = self._special_pattern()
        if pattern is not None and any(any(data[m.start():m.end()]) for m in pattern.finditer(text)):
            runs: list[str | int] = []
            self._inert_runs(text, data, 0, len(text), runs)
            tokens = []
            for run in runs:
                if isinstance(run, int):
                    tokens.append(run)
                elif run:
                    tokens.extend(self.tokenize(run, special=False))
        else:
            tokens = self.tokenize(text, special=True)
        if self.add_bos and self.bos >= 0 and (not tokens or tokens[0] != self.bos):
            tokens.insert(0, self.bos)
        return tokens

    def _special_pattern(self):
        """A regex of the texts of all CONTROL and USER_DEFINED tokens, their ids, and the ids
        llama.cpp parses even when told not to (USER_DEFINED)."""
        if self._controls is None:
            lib = self._lib
            control, user = lib.LLAMA_TOKEN_ATTR_CONTROL, lib.LLAMA_TOKEN_ATTR_USER_DEFINED
            texts, always = {}, set()
            for token in range(self.n_vocab):
                attr = lib.llama_vocab_get_attr(self.vocab, token)
                if attr & (control | user):
                    piece = self.piece(token).decode("utf-8", "replace")
                    if piece:
                        texts[piece] = token
                        if attr & user:
                            always.add(token)
            # Longest first, as llama.cpp partitions special tokens.
            alternatives = sorted(texts, key=len, reverse=True)
            pattern = re.compile("|".join(re.escape(t) for t in alternatives)) if alternatives else None
            self._controls = (pattern, texts, frozenset(always))
        return self._controls

    def _inert_runs(self, text: str, data: bytearray, lo: int, hi: int, out: list) -> None:
        """Split ``text[lo:hi]`` into runs to tokenize as plain text and the ids of the special
        tokens the template wrote.

        A USER_DEFINED text inside user data is cut in two where the pre-tokenizer splits it
        anyway (see ``_inert_cut``), so that neither run holds it whole and each tokenizes as it
        would have without the special token; CONTROL texts in data need no cut, as plain-text
        tokenization ignores them.
        """
        pattern, ids, always = self._special_pattern()
        start = pos = lo
        while (m := pattern.search(text, pos, hi)) is not None:
            a, b = m.span()
            token = ids[m.group()]
            if not any(data[a:b]):
                out.append(text[start:a])
                out.append(token)
                start = pos = b
            elif token in always:
                cut = a + _inert_cut(m.group())
                self._inert_runs(text, data, start, cut, out)  # a shorter special text may hide in it
                start = pos = cut
            else:
                pos = a + 1
        out.append(text[start:hi])


def _inert_cut(special: str) -> int:
    """Where to cut the text of a special token found in user data: after a letter followed by a
    non-letter (``<think`` | ``>``). Byte-level BPE pre-tokenizers (GPT-2, Llama 3, Qwen2) never
    put a letter and a following non-letter in one piece, so tokenizing the two sides apart
    gives the same tokens as tokenizing the text whole with no such special token."""
    for i in range(1, len(special)):
        if special[i - 1].isalpha() and not special[i].isalpha():
            return i
    return 1
