"""What ``--think-until P`` would have cost and given, for every P, from one run that reasoned fully.

Every probe a judge takes while reasoning is in its record (``probes``: the tokens reasoned and the
label probabilities read there), so the verdict ``--think-until P`` gives is known without judging
again: the first probe at or after ``min_think`` tokens whose leading label has probability >= P,
or, where none has, the verdict after full reasoning. With ``--swap`` each order stops on its own
and the two distributions are averaged, as a real run does.

This is exact where the verdict is read right after the reasoning (``--no-explain``, or RubricRM,
whose explanation is its reasoning): a real ``--think-until`` run then feeds the same tokens the
probe fed and reads the same probabilities. With an explanation written between reasoning and
verdict, the real verdict is read after that explanation, which the probe skipped; the derived one
is then the probe's read. Verdicts averaged over rubric variants keep the first variant's probes
only, so they are left out.
"""

from __future__ import annotations

import statistics

from edgejudge.formats.options import MIN_THINK
from edgejudge.trust import metrics

GRID = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)
WITHIN = 0.01  # "as accurate as full reasoning": within one point of accuracy


def _probabilities(record: dict) -> dict:
    return record.get("raw_probabilities") or record.get("probabilities") or {}


def _settle(probes: list[dict], until: float | None, min_think: int) -> dict | None:
    """The probe a run with ``think_until=until`` stops at (None: it does not stop early)."""
    if until is None:
        return None
    for probe in probes:
        if probe["at"] >= min_think and max(probe["probabilities"].values()) >= until:
            return probe
    return None


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _distribution(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) and _number(v) for k, v in value.items())


def _run(probabilities: object, tokens: object, probes: object) -> tuple[dict, int, list[dict]] | None:
    """One reasoning run as (final probabilities, tokens reasoned, probes), or None where the
    record (read back from a file: untrusted) does not hold them in the shape edgejudge writes."""
    if not _distribution(probabilities) or not isinstance(probes, list):
        return None
    if not (isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0):
        return None
    for probe in probes:
        if not (isinstance(probe, dict) and isinstance(probe.get("at"), int) and not isinstance(probe["at"], bool)
                and _distribution(probe.get("probabilities"))):
            return None
    return probabilities, tokens, probes  # type: ignore[return-value]


def _order_runs(record: dict) -> list[tuple[dict, int, list[dict]]] | None:
    """Each reasoning run of a record: (final probabilities, tokens reasoned, probes); None when
    it holds none (no reasoning, or not as edgejudge writes records)."""
    swap = record.get("swap")
    if isinstance(swap, dict) and swap.get("orders"):
        orders = swap["orders"] if isinstance(swap["orders"], list) else []
        runs = [_run(o.get("probabilities"), o.get("think_tokens"), o.get("probes")) if isinstance(o, dict) else None
                for o in orders]
        return [r for r in runs if r is not None] if runs and all(runs) else None
    run = _run(_probabilities(record), record.get("think_tokens"), record.get("probes"))
    return [run] if run else None


def derive(record: dict, until: float | None, *, min_think: int = MIN_THINK, at_zero: bool = False) -> dict | None:
    """The verdict, probabilities and reasoning tokens of ``record`` had it stopped as
    ``think_until=until`` would (``until=None``: as it did; ``at_zero``: the read at token 0, before
    any reasoning). None when the record holds no probes to derive it from."""
    if record.get("rubric_variants") is not None:
        return None
    runs = _order_runs(record)
    if not runs:
        return None
    probabilities: list[dict] = []
    tokens = 0
    for final, thought, probes in runs:
        if at_zero:
            first = probes[0] if probes and probes[0]["at"] == 0 else None
            if first is None:
                return None
            probabilities.append(first["probabilities"])
            continue
        settled = _settle(probes, until, min_think)
        probabilities.append(settled["probabilities"] if settled else final)
        tokens += settled["at"] if settled else thought
    labels = list(probabilities[0])
    mean = {label: sum(p.get(label, 0.0) for p in probabilities) / len(probabilities) for label in labels}
    return {"verdict": max(mean, key=mean.__getitem__), "probabilities": mean, "think_tokens": tokens}


def _row(name: str, until: float | None, gold: list[str], derived: list[dict]) -> dict:
    pred = [d["verdict"] for d in derived]
    probs = [d["probabilities"] for d in derived]
    tokens = [d["think_tokens"] for d in derived]
    correct = [g == p for g, p in zip(gold, pred)]
    return {"setting": name, "think_until": until, "n": len(derived), "accuracy": metrics.accuracy(gold, pred),
            "kappa": metrics.cohen_kappa(gold, pred), "ece": metrics.ece([metrics.confidence(p) for p in probs], correct),
            "mean_think_tokens": statistics.fmean(tokens) if tokens else None,
            "median_think_tokens": statistics.median(tokens) if tokens else None}


def curve(golds: list[dict], records: list[dict | None], *, grid: tuple[float, ...] = GRID,
          min_think: int | None = None) -> dict | None:
    """The trade-off on gold labels: a row for the read at token 0, one per P of ``grid``, and one for
    full reasoning; and the P of least mean cost whose accuracy is within a point of full reasoning.
    None when no record holds probes. ``min_think``: as the run's provenance says, else the default."""
    pairs = [(g, r) for g, r in zip(golds, records)
             if r is not None and r.get("status", "ok") == "ok" and r.get("verdict") is not None
             and _order_runs(r) and r.get("rubric_variants") is None]
    if not pairs:
        return None
    if min_think is None:  # the run's own, from its records (read back: checked like any input)
        given = ((pairs[0][1].get("provenance") or {}).get("anytime") or {}).get("min_think")
        min_think = given if isinstance(given, int) and not isinstance(given, bool) and given >= 1 else MIN_THINK
    gold = [g["label"] for g, _ in pairs]

    def derived(until: float | None) -> list[dict]:
        found = [derive(r, until, min_think=min_think or MIN_THINK) for _, r in pairs]
        return [d for d in found if d is not None]  # every pair holds probes: none is left out

    rows = []
    zero = [derive(r, None, at_zero=True) for _, r in pairs]
    if all(z is not None for z in zero):
        rows.append(_row("token 0", 0.0, gold, [z for z in zero if z is not None]))
    for until in grid:
        rows.append(_row(f"P={until:g}", until, gold, derived(until)))
    full = _row("full reasoning", None, gold, derived(None))
    rows.append(full)
    best = None
    if full["accuracy"] is not None:
        close = [row for row in rows[:-1] if row["think_until"] and row["accuracy"] is not None
                 and row["accuracy"] >= full["accuracy"] - WITHIN - 1e-12]
        if close:
            best = min(close, key=lambda row: (row["mean_think_tokens"], row["think_until"]))["think_until"]
    return {"n": len(pairs), "left_out": len(golds) - len(pairs), "min_think": min_think, "rows": rows,
            "recommended_think_until": best,
            "note": "probabilities are the model's own (uncalibrated); derived verdicts are exact with "
                    "--no-explain (docs/anytime.md)"}


def summary_lines(result: dict) -> list[str]:
    """The curve as lines for people (``eval`` on a terminal)."""
    lines = [f"  anytime ({result['n']} items with probes, min-think {result['min_think']}):"]
    for row in result["rows"]:
        acc = "–" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        lines.append(f"    {row['setting']:<15} accuracy {acc}  mean {row['mean_think_tokens']:.0f} / median "
                     f"{row['median_think_tokens']:.0f} reasoning tokens")
    best = result.get("recommended_think_until")
    lines.append(f"    least reasoning within a point of full reasoning: "
                 f"{'none of the grid' if best is None else f'--think-until {best:g}'}")
    return lines
