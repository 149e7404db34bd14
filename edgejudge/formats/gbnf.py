"""GBNF grammar texts that format tables name: what an explanation, a rubric or an answer may look like.

Compiling a grammar against a model's vocabulary is the backend's business
(:mod:`edgejudge.backends.llama.grammar`); a remote server receives the text itself.
"""

from __future__ import annotations


def literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def sentences_body() -> str:
    """A grammar for a JSON string of at most two sentences, closed by its quote.

    The text may close at any point (as a JSON string may), but after a second sentence has ended
    it must close: a small model's greedy explanation cannot loop until its token budget runs out.
    A sentence ends with ``.``, ``!`` or ``?`` unless it is a decimal point or a lower-case letter
    follows directly (so "3.5", "e.g." and "node.js" stay inside a sentence).
    """
    return (
        'root ::= chunk+ (end | [.!?] (end | " " chunk+ [.!?]? end))\n'
        'end ::= "\\""\n'
        'chunk ::= [^"\\\\\\x00-\\x1f.!?0-9] | [0-9]+ ("." [0-9]+)? | [.!?] [a-z]\n'
    )


def json_string_body(min_chars: int = 1) -> str:
    """A grammar for the body of a JSON string, closed by its quote.

    No escapes, no quotes, no control characters: the text always closes cleanly with one ``"``,
    and the first ``"`` ends it, so the engine can stop there.
    """
    repeat = "+" if min_chars >= 1 else "*"
    return f'root ::= [^"\\\\\\x00-\\x1f]{repeat} "\\""\n'


def rubric_list() -> str:
    """A numbered rubric: ``N. The response … [Hard Rule]`` or ``[Principle]``, one item per line
    (the RubricRM generator's output format)."""
    return (
        'root ::= item ("\\n" item)* "\\n"?\n'
        'item ::= [1-9] [0-9]? ". The response " [^\\n]+ " [" ("Hard Rule" | "Principle") "]"\n'
    )


def answer_block() -> str:
    """The body of an ``<answer>`` block, closed by ``</answer>``: text and ``<snippet id=…>…</snippet>``
    citations, no other markup."""
    return (
        'root ::= chunk* "</answer>"\n'
        'chunk ::= [^<] | "<snippet id=" [A-Za-z0-9_,.:-]+ ">" [^<]* "</snippet>"\n'
    )


def until_answer() -> str:
    """Free text without markup, then ``<answer>``: RM-R1's optional summary before its verdict."""
    return 'root ::= [^<]* "<answer>"\n'


def named(name: str) -> str | None:
    """The grammar a format table names (``""`` for free text)."""
    if not name:
        return None
    return {
        "json_string": json_string_body,
        "sentences": sentences_body,
        "rubric_list": rubric_list,
        "answer_block": answer_block,
        "until_answer": until_answer,
    }[name]()
