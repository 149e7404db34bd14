"""Trust commands: ``eval`` (verdicts against gold labels) and ``calibrate``; the flags that make
``judge``, ``score`` and ``serve`` abstain or escalate (``--abstain-below``, ``--target-error``,
``--escalate``) or ignore stored calibrations (``--no-calibration``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgejudge.cli.options import (
    backend_options,
    judge_options,
    load_judge,
    options_from,
    runtime_options,
    trust_options,
)

BATCH_CTX = 4096
def _summary_text(result: dict) -> str:
    def fmt(key):
        value = result.get(key)
        text = "–" if value is None else f"{value:.3f}"
        interval = (result.get("intervals") or {}).get(key)
        if interval:
            text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
        if f"{key}_raw" in result and result[f"{key}_raw"] is not None:
            text += f" (uncalibrated {result[f'{key}_raw']:.3f})"
        return text

    lines = [(f"{result['n']} items: {result['answered']} answered, {result['abstained']} abstained, "
              f"{result['errors']} errors"),
             f"  accuracy {fmt('accuracy')}", f"  kappa    {fmt('kappa')}", f"  ECE      {fmt('ece')}",
             f"  Brier    {fmt('brier')}"]
    if result.get("position_consistency") is not None:
        lines.append(f"  position consistency {result['position_consistency']:.3f}")
    bias = result.get("length_bias")
    if bias and bias.get("picks_longer") is not None:
        lines.append(f"  picks the longer response {bias['picks_longer']:.3f} of the time")
    lines.append(f"  {len(result['disagree'])} items disagree with the gold label")
    return "\n".join(lines)


@click.command("eval")
@runtime_options
@backend_options
@judge_options
@trust_options
@click.argument("source", metavar="GOLD.jsonl")
@click.option("--verdicts", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Read the verdicts from an earlier `edgejudge score` output instead of judging.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Also write the verdict records judged here to this JSONL file.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write a self-contained HTML report (reliability diagram, confusion matrix, tables).")
def eval_command(source, verdicts, output, report_path, **kwargs):
    """Measure a judge against gold labels: items carry a "label" (a verdict label, or a score).

    Prints one JSON object: n, accuracy, kappa, ece, brier, confusion, bootstrap 95% intervals,
    position consistency (--swap), length bias, the ids that disagree, and the same per task and
    variant; with a calibration in use also the uncalibrated figures (accuracy_raw, ece_raw). When
    the judge reasoned (--think), "anytime": what --think-until P would have given, for a grid of P,
    the read at token 0 and full reasoning (docs/anytime.md).
    """
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.files import write_atomic
    from edgejudge.streams.stream import LineWriter
    from edgejudge.trust import evaluate, report

    golds = evaluate.read_gold(Path(source))
    if verdicts:
        records = evaluate.read_records(Path(verdicts))
    else:
        options = options_from(kwargs)
        with load_judge(kwargs, min_ctx=BATCH_CTX) as judge:
            records = evaluate.judge_all(judge, golds, options)
        if output:
            import os

            writer = LineWriter(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            for record in records:
                writer(record)
            os.close(writer.fd)
    result = evaluate.report(evaluate.join(golds, records))
    model = next((r.get("model") for r in records if r.get("model")), None)
    result = {"model": model, **result}
    from edgejudge.trust import anytime

    think = anytime.curve(golds, evaluate.matched(golds, records))
    if think is not None:  # the judge reasoned: what --think-until P would have cost and given
        result["anytime"] = think
    data_writer().record(result)
    if report_path:
        subtitle = f"{source}" + (f" · {model.get('id')}:{model.get('quant')}" if model else "")
        write_atomic(Path(report_path), report.render(result, subtitle=subtitle).encode("utf-8"))
    if sys.stderr.isatty():
        warn(_summary_text(result))
        if think is not None:
            warn("\n".join(anytime.summary_lines(think)))


@click.command()
@runtime_options
@backend_options
@judge_options
@click.argument("source", metavar="GOLD.jsonl")
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True,
              help="Folds of the held-out check of ECE before and after.")
@click.option("--verdicts", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Fit on an earlier `edgejudge score` output of these items (same model and flags).")
def calibrate(source, folds, verdicts, **kwargs):
    """Fit a calibration of the label probabilities on gold labels and store it beside the model.

    One calibration per task, variant, thinking on/off and swap on/off (from the judging flags
    given here): temperature scaling, and for A/B labels a position term. From then on verdicts
    of that key carry calibrated "probabilities" and the model's own in "raw_probabilities".
    """
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.trust import evaluate

    golds = evaluate.read_gold(Path(source))
    options = options_from(kwargs)
    with load_judge(kwargs, min_ctx=BATCH_CTX, calibration=False) as judge:
        records = evaluate.read_records(Path(verdicts)) if verdicts else evaluate.judge_all(judge, golds, options)
        result = evaluate.calibrate(judge, golds, records, options, folds=folds)
    data_writer().record(result)
    for entry in result["calibrations"]:
        if "skipped" in entry:
            warn(f"edgejudge: {entry['key']}: not calibrated ({entry['skipped']})")
            continue
        raw, cal = entry["held_out"]["raw"], entry["held_out"]["calibrated"]
        warn(f"edgejudge: {entry['key']}: {entry['n']} items, T={entry['temperature']:.3f}"
             + (f", position bias {entry['position_bias']:+.3f}" if entry["position_bias"] is not None else "")
             + f"; held-out ECE {raw['ece']:.3f} -> {cal['ece']:.3f}, accuracy {raw['accuracy']:.3f} -> "
               f"{cal['accuracy']:.3f} ({entry['held_out']['folds']} folds)")


COMMANDS = (eval_command, calibrate)
