"""A judge that abstains, or escalates, when its (calibrated) confidence is below a threshold.

    from edgejudge import Judge
    from edgejudge.trust import TrustedJudge

    with TrustedJudge.load("mr3-qwen3-4b", target_error=0.2, escalate="think") as judge:
        for record in judge.score_many(items):
            ...

Stages run in order: the first (with ``escalate="think"``: the same model without thinking),
then, only for items below the first stage's threshold, the next (the same model thinking under
its budget, or another judge). Each stage reads its own calibration (thinking on and off are
different keys) and its own threshold. An item still below the last stage's threshold is an
abstention: a record with ``"status": "abstain"``, its probabilities, and no verdict.

A :class:`TrustedJudge` wraps a :class:`~edgejudge.judging.judge.Judge` and answers the same
calls (``judge``, ``pairwise``, ``pointwise``, ``score_many``), so the stream loop, ``serve
--stdio`` and the API use it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Self

from edgejudge import items
from edgejudge.errors import InputError, UsageError
from edgejudge.formats import JudgeOptions
from edgejudge.judging.judge import Judge
from edgejudge.trust import abstain, metrics, store


@dataclass(frozen=True)
class Stage:
    name: str
    judge: Judge
    think: bool | None = None  # overrides the run's think option (None: as given)


class Abstention:
    """An item no stage was confident enough to decide: probabilities, but no verdict."""

    status = "abstain"
    verdict = None
    score = None

    def __init__(self, last, details: dict):
        self.last = last
        self.id = last.id
        self.task = last.task
        self.probabilities = last.probabilities
        self.raw_probabilities = last.raw_probabilities
        self.calibration = last.calibration
        self.details = details

    def to_dict(self) -> dict:
        record = self.last.to_dict()
        record.update(verdict=None, score=None, **self.details)
        record.pop("expected_score", None)
        return {"id": record.pop("id"), "status": "abstain", **record}


class TrustedJudge:
    """A judge with an abstention policy and, optionally, an escalation stage."""

    pairwise = Judge.pairwise
    pointwise = Judge.pointwise
    score_many = Judge.score_many

    def __init__(self, judge: Judge, *, policy: abstain.Policy | None = None, escalate: str | Judge | None = None,
                 owns_escalation: bool = False):
        self.inner = judge
        self.policy = policy or abstain.Policy()
        if escalate is not None and not self.policy.active:
            raise UsageError("--escalate needs a threshold to escalate below",
                             hint="add --abstain-below P or --target-error ALPHA")
        if self.policy.target_error is not None and judge.calibration is None:
            raise UsageError("--target-error needs the stored calibrations, which this run has turned off "
                             "(--no-calibration, or a remote judge)", hint="drop --no-calibration")
        self.stages = [Stage(judge.resolved.id, judge)]
        self._owned: Judge | None = None
        if escalate == "think":
            if not judge.format.table.family.think:
                raise UsageError(f"--escalate think: the {judge.format.family} format has no reasoning phase",
                                 hint="escalate to another judge instead: --escalate MODEL")
            self.stages = [Stage("quick", judge, think=False), Stage("think", judge, think=True)]
        elif escalate is not None:
            second = escalate if isinstance(escalate, Judge) else Judge.load(escalate, settings=judge.settings)
            self._owned = second if owns_escalation or not isinstance(escalate, Judge) else None
            name = second.resolved.id
            self.stages.append(Stage(name if name != judge.resolved.id else f"{name}#2", second))
        self._thresholds: dict[tuple, list[float | None]] = {}

    @classmethod
    def load(cls, model: str | None = None, *, abstain_below: float | None = None,
             target_error: float | None = None, delta: float = abstain.DEFAULT_DELTA,
             escalate: str | None = None, calibration: bool = True, **load_options) -> TrustedJudge:
        """Load ``model`` (as :meth:`Judge.load`) and wrap it with this policy."""
        judge = Judge.load(model, calibration=calibration, **load_options)
        try:
            return cls(judge, policy=abstain.Policy(abstain_below, target_error, delta), escalate=escalate)
        except BaseException:
            judge.close()
            raise

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # resolved, tasks, provenance, format, model, ...

    @property
    def cascade(self) -> bool:
        return len(self.stages) > 1

    @staticmethod
    def _options(stage: Stage, options: JudgeOptions) -> JudgeOptions:
        return options if stage.think is None else replace(options, think=stage.think)

    def _stored(self, stage: Stage, item: items.Item, options: JudgeOptions) -> dict:
        stored, skipped = stage.judge.calibration.check(item, options) if stage.judge.calibration else (None, None)
        if stored is None:
            key = store.key_for(stage.judge, item, options)
            what = key.describe() if key else stage.name
            why = f" (the stored one is not applied: {skipped})" if skipped else ""
            raise InputError(f"--target-error needs a calibration for {what}{why}", code="no_calibration",
                             hint=f"fit one with: edgejudge calibrate GOLD.jsonl -m {stage.judge.resolved.id} "
                                  "and the same judging flags")
        return stored

    def threshold(self, index: int, item: items.Item, options: JudgeOptions) -> float | None:
        """Stage ``index``'s threshold for this item (None: answer nothing). With a target error,
        stage k's threshold comes from its calibration set restricted to the items the stages
        before it escalate, each stage at delta / (number of stages): :func:`abstain.cascade_thresholds`."""
        if self.policy.target_error is None:
            return self.policy.abstain_below
        records = [self._stored(stage, item, self._options(stage, options)) for stage in self.stages[:index + 1]]
        cache_key = (tuple(r["id"] for r in records), self.policy.target_error, self.policy.delta, len(self.stages))
        if cache_key not in self._thresholds:
            self._thresholds[cache_key] = abstain.cascade_thresholds(
                [r["calibration_set"] for r in records], self.policy.target_error, self.policy.delta,
                stages=len(self.stages))
        return self._thresholds[cache_key][index]

    def judge(self, item: items.Item | Mapping, options: JudgeOptions | None = None, **option_overrides):
        """A verdict (decided by the first stage confident enough) or an :class:`Abstention`."""
        if not isinstance(item, items.Item):
            item = items.make_item(item)
        options = replace(options or JudgeOptions(), **option_overrides)
        runs = []
        for index, stage in enumerate(self.stages):
            stage_options = self._options(stage, options)
            result = stage.judge.judge(item, stage_options)
            if not result.probabilities:  # rubric, refine: nothing to be unsure about
                return result
            threshold = self.threshold(index, item, options) if self.policy.active else None
            runs.append((stage, store.thinks(stage.judge, item, stage_options), result, threshold))
            confidence = metrics.verdict_confidence(result.verdict, result.probabilities, result.swap)
            if not self.policy.active or (threshold is not None and confidence >= threshold):
                return self._decided(runs)
        return self._abstained(runs)

    def _stage_summary(self, stage: Stage, thinking: bool, result, threshold) -> dict:
        summary = {"stage": stage.name, "model": stage.judge.resolved.id, "think": thinking,
                   "verdict": result.verdict, "probabilities": {k: round(v, 6) for k, v in result.probabilities.items()}}
        if result.raw_probabilities is not None:
            summary["raw_probabilities"] = result.raw_probabilities
        summary.update(threshold=threshold, calibration=result.provenance.get("calibration"),
                       think_tokens=result.think_tokens, timings=result.timings)
        return summary

    def _trust(self, runs) -> dict:
        out: dict = {}
        if self.cascade:
            out["stages"] = [self._stage_summary(*run) for run in runs]
        return out

    def _provenance(self, result, threshold) -> dict:
        return {**result.provenance, "abstain": {**self.policy.describe(), "threshold": threshold}}

    def _decided(self, runs):
        stage, _, result, threshold = runs[-1]
        if self.policy.active:
            result.provenance = self._provenance(result, threshold)
        if self.cascade:
            result.extra.update(stage=stage.name, **self._trust(runs))
            result.think_tokens = sum(run[2].think_tokens for run in runs)
            result.timings = _summed([run[2].timings for run in runs])
        return result

    def _abstained(self, runs) -> Abstention:
        _, _, result, threshold = runs[-1]
        result.provenance = self._provenance(result, threshold)
        details = {"stage": None, **self._trust(runs)}
        if self.cascade:
            details["think_tokens"] = sum(run[2].think_tokens for run in runs)
            details["timings"] = _summed([run[2].timings for run in runs])
        return Abstention(result, details)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None
        self.inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _summed(timings: list[dict]) -> dict:
    total: dict = {}
    for one in timings:
        for key, value in one.items():
            if key == "n_ctx":
                total[key] = max(total.get(key, 0), value)
            elif isinstance(value, (int, float)):
                total[key] = round(total.get(key, 0) + value, 4)
    return total
