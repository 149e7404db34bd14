"""The bundled sample pairs that ``edgejudge demo`` judges, and how the demo shows them.

Each sample carries ``expected``: the response a careful judge prefers (the samples are chosen so
that it is not in doubt: one response is plainly wrong). The demo reports the model's verdict and
its probability, both read from the logits, next to that answer. It writes no explanations unless
asked: the default model is a 135M-parameter demo whose explanations are not worth presenting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

import orjson

from edgejudge.store import registry


def load() -> list[dict]:
    text = resources.files("edgejudge.judging").joinpath("samples.jsonl").read_text(encoding="utf-8")
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class DemoReport:
    """What the demo judged: one verdict record per sample (each with ``expected``)."""

    model: str
    records: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    demo_model: bool = False
    model_name: str = ""

    @property
    def matches(self) -> int:
        return sum(r["verdict"] == r["expected"] for r in self.records)


def run_demo(judge, emit: Callable[[dict], None] | None = None, *, explain: bool = False) -> DemoReport:
    """Judge every sample; pass each verdict record (with ``expected``) to ``emit`` as it is made."""
    spec = judge.resolved.spec
    report = DemoReport(model=f"{judge.resolved.id}:{judge.resolved.quant}",
                        demo_model=spec is not None and spec.id == registry.load().default_model,
                        model_name=spec.name if spec is not None else judge.resolved.id)
    started = time.perf_counter()
    for sample in load():
        result = judge.judge(sample, explain=explain).to_dict()
        result["expected"] = sample.get("expected")
        report.records.append(result)
        if emit is not None:
            emit(result)
    report.seconds = time.perf_counter() - started
    return report


def table(report: DemoReport, *, unicode: bool = True) -> str:
    """The verdicts as a table for a terminal: pair, verdict, its probability, expected, a mark."""
    right, wrong = ("✓", "✗") if unicode else ("yes", "no")
    width = max([4, *(len(str(r["id"])) for r in report.records)])
    lines = [f"{'pair':<{width}}  verdict  probability  expected"]
    for r in report.records:
        probability = r["probabilities"].get(r["verdict"], 0.0)
        mark = right if r["verdict"] == r["expected"] else wrong
        lines.append(f"{r['id']!s:<{width}}  {r['verdict']:<7}  {probability:>11.2f}  {r['expected']:<8}  {mark}")
        if r.get("explanation"):
            lines.append(f"{'':<{width}}  the model wrote: {r['explanation']}")
    return "\n".join(lines)


def notes(report: DemoReport) -> list[str]:
    """Two lines saying what was shown: who judged (and what that is worth), what the figures mean."""
    n = len(report.records)
    first = (f"{report.model} judged {n} sample pairs in {report.seconds:.1f} s; "
             f"{report.matches} of {n} verdicts match the expected answer.")
    verdicts = {r["verdict"] for r in report.records}
    if report.demo_model:
        first += (f" {report.model_name} is a tiny demo model: it shows that edgejudge runs here, "
                  "not good judgment")
        if n > 1 and len(verdicts) == 1 and len({r["expected"] for r in report.records}) > 1:
            first += f" (it answered {verdicts.pop()} for every pair, whichever response was right)"
        first += "; see `edgejudge models` for real judges."
    second = ("verdict: the response the model prefers; probability: the model's probability for that "
              "verdict, read from its logits over A and B; expected: the response a careful judge "
              "prefers (in each sample the other one is plainly wrong).")
    if any(r.get("explanation") for r in report.records):
        second += " 'the model wrote': the explanation the model generated, shown as written."
    return [first, second]
