"""The bundled sample pairs that ``edgejudge demo`` judges."""

from __future__ import annotations

import time
from importlib import resources

import orjson

from edgejudge.store import registry


def load() -> list[dict]:
    text = resources.files("edgejudge.judging").joinpath("samples.jsonl").read_text(encoding="utf-8")
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def run_demo(judge, emit, *, explain: bool = True) -> str:
    """Judge every sample, pass each verdict record to ``emit``, and return a summary line."""
    records = load()
    started = time.perf_counter()
    agree = 0
    for record in records:
        result = judge.judge(record, explain=explain).to_dict()
        result["expected"] = record.get("expected")
        agree += result["verdict"] == result["expected"]
        emit(result)
    elapsed = time.perf_counter() - started
    summary = (f"{len(records)} sample pairs judged by {judge.resolved.id}:{judge.resolved.quant} in {elapsed:.1f} s; "
               f"{agree} of {len(records)} verdicts match the expected answer")
    if judge.resolved.spec is not None and judge.resolved.spec.id == registry.load().default_model:
        summary += (f"\n({judge.resolved.spec.name} is a tiny demo model that shows the pipeline, not a good "
                    "judge: pass -m with a real judge model for real verdicts)")
    return summary
