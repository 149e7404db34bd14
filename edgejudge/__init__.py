"""edgejudge: an offline, on-device LLM judge on llama.cpp.

    from edgejudge import Judge

    with Judge.load("smollm2-135m") as judge:
        print(judge.pairwise("What is 2+2?", "4", "5").verdict)

``Judge`` is imported lazily so that ``import edgejudge`` (and ``edgejudge --help``) stay fast.
"""

__version__ = "0.1.0"

__all__ = ["Judge", "JudgeOptions", "Verdict", "__version__"]


def __getattr__(name: str):
    if name == "Judge":
        from edgejudge.judging.judge import Judge

        return Judge
    if name == "JudgeOptions":
        from edgejudge.formats import JudgeOptions

        return JudgeOptions
    if name == "Verdict":
        from edgejudge.judging.verdict import Verdict

        return Verdict
    raise AttributeError(f"module 'edgejudge' has no attribute {name!r}")
