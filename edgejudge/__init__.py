"""edgejudge: an offline, on-device LLM judge on llama.cpp.

    from edgejudge import Judge

    with Judge.load("smollm2-135m") as judge:
        print(judge.pairwise("What is 2+2?", "4", "5").verdict)

The public names are handed on lazily, so that ``import edgejudge`` (and ``edgejudge --help``)
never import llama.cpp.
"""

from importlib import import_module

from edgejudge.version import __version__

_PUBLIC = {
    "Judge": "edgejudge.judging.judge",
    "JudgeOptions": "edgejudge.formats.options",
    "Verdict": "edgejudge.judging.verdict",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'edgejudge' has no attribute {name!r}")
