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
from edgejudge.errors import UsageError

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
              f"{result['errors']} error records, {result.get('missing', 0)} without a record"),
             f"  accuracy {fmt('accuracy')}", f"  kappa    {fmt('kappa')}", f"  ECE      {fmt('ece')}",
             f"  Brier    {fmt('brier')}"]
    if result.get("position_consistency") is not None:
        lines.append(f"  position consistency {result['position_consistency']:.3f}")
    bias = result.get("length_bias")
    if bias and bias.get("picks_longer") is not None:
        lines.append(f"  picks the longer response {bias['picks_longer']:.3f} of the time")
    for task, check in (result.get("calibration_check") or {}).items():
        lines.append(f"  {task}: a calibration fitted here, held out ({check['folds']} folds): ECE {check['ece_raw']:.3f} "
                     f"-> {check['ece_calibrated']:.3f}, NLL {check['nll_raw']:.3f} -> {check['nll_calibrated']:.3f}")
    dropped = {k: v for k, v in ((result.get("resamples") or {}).get("dropped") or {}).items() if v}
    if dropped:
        lines.append("  bootstrap resamples dropped where undefined: "
                     + ", ".join(f"{k} {v} of {result['resamples']['n']}" for k, v in dropped.items()))
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
    import orjson

    from edgejudge import outputs
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.trust import evaluate, report

    if output and verdicts:
        raise UsageError("-o writes the verdicts judged by this run; with --verdicts nothing is judged",
                         hint="leave out -o (the verdicts are already in " + verdicts + ")")
    inputs = [source, *([verdicts] if verdicts else [])]
    # Checked before any work; replaced (atomically) only once the work is done.
    out_target = outputs.target(output, inputs=inputs) if output else None
    report_target = (outputs.target(report_path, what="--report", inputs=inputs,
                                    others=[out_target] if out_target else [])
                     if report_path else None)
    golds = evaluate.read_gold(Path(source))
    if verdicts:
        records = evaluate.read_records(Path(verdicts))
    else:
        options = options_from(kwargs)
        with load_judge(kwargs, min_ctx=BATCH_CTX) as judge:
            records = evaluate.judge_all(judge, golds, options)
        if out_target is not None:
            out_target.write(b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in records),
                             inputs=inputs)
    result = evaluate.report(evaluate.join(golds, records))
    model = next((r.get("model") for r in records if r.get("model")), None)
    result = {"model": model, **result}
    from edgejudge.trust import anytime

    think = anytime.curve(golds, evaluate.matched(golds, records))
    if think is not None:  # the judge reasoned: what --think-until P would have cost and given
        result["anytime"] = think
    data_writer().record(result)
    if report_target is not None:
        subtitle = f"{source}" + (f" · {model.get('id')}:{model.get('quant')}" if model else "")
        report_target.write(report.render(result, subtitle=subtitle).encode("utf-8"), inputs=inputs)
    if sys.stderr.isatty():
        warn(_summary_text(result))
        if think is not None:
            warn("\n".join(anytime.summary_lines(think)))


@click.command()
@runtime_options
@backend_options
@judge_options
@click.argument("source", metavar="GOLD.jsonl", required=False)
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True,
              help="Folds of the held-out check of ECE before and after.")
@click.option("--verdicts", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Fit on an earlier `edgejudge score` output of these items (same model and flags).")
@click.option("--target-error", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              metavar="ALPHA", help="Say whether the set is large enough for --target-error ALPHA (and the "
                                    "threshold it would give).")
@click.option("--delta", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="The --delta that --target-error will be used with.")
@click.option("--list", "list_fits", is_flag=True,
              help="List the stored calibrations (id, model, key, items, when fitted, parameters) and stop.")
@click.option("--remove", "remove_id", default=None, metavar="ID",
              help="Delete the stored calibration with this id (or file), as --list shows it, and stop.")
def calibrate(source, folds, verdicts, target_error, delta, list_fits, remove_id, **kwargs):
    """Fit a calibration of the label probabilities on gold labels and store it beside the model.

    One calibration per model file, task, variant, thinking on/off and swap on/off (from the
    judging flags given here): temperature scaling with a bias per label. From then on verdicts
    of that key from judge, score, serve, eval and the Python API carry calibrated "probabilities",
    the model's own in "raw_probabilities" and the fit in "calibration" (demo never uses it;
    --no-calibration turns it off). --list shows the stored ones, --remove ID deletes one.
    """
    from edgejudge.cli.output import data_writer, warn
    from edgejudge.trust import evaluate, fits

    if list_fits or remove_id is not None:
        if source is not None or (list_fits and remove_id is not None):
            raise UsageError("--list and --remove ID each work alone (no GOLD.jsonl)")
        out = data_writer()
        if remove_id is not None:
            for removed in fits.remove(remove_id):
                out.text(f"removed {removed}")
            return
        entries = fits.listing()
        if out.isatty():
            out.text(fits.text(entries))
        else:
            for entry in entries:
                out.record(entry)
        return
    if source is None:
        raise UsageError("calibrate needs gold labels: edgejudge calibrate GOLD.jsonl -m MODEL",
                         hint="or --list to see the stored calibrations, --remove ID to delete one")
    golds = evaluate.read_gold(Path(source))
    records = evaluate.read_records(Path(verdicts)) if verdicts else None  # checked before the model loads
    options = options_from(kwargs)
    with load_judge(kwargs, min_ctx=BATCH_CTX, calibration=False) as judge:
        if records is None:
            records = evaluate.judge_all(judge, golds, options)
        result = evaluate.calibrate(judge, golds, records, options, folds=folds, target_error=target_error,
                                    delta=delta)
    data_writer().record(result)
    if result.get("skipped_items"):
        warn(f"edgejudge: {result['skipped_items']} of {len(golds)} gold items have no verdict with probabilities "
             "(an error or abstention record, or none); the fits below leave them out")
    for entry in result["calibrations"]:
        if "skipped" in entry:
            warn(f"edgejudge: {entry['key']}: not calibrated ({entry['skipped']})")
            continue
        raw, cal = entry["held_out"]["raw"], entry["held_out"]["calibrated"]
        biases = ", ".join(f"{k} {v:+.3f}" for k, v in entry["biases"].items())
        warn(f"edgejudge: {entry['key']}: {entry['n']} items ({entry['clusters']} independent), "
             f"T={entry['temperature']:.3f}, biases {biases}; held-out ECE {raw['ece']:.3f} -> {cal['ece']:.3f}, "
             f"NLL {raw['nll']:.3f} -> {cal['nll']:.3f}, accuracy {raw['accuracy']:.3f} -> {cal['accuracy']:.3f} "
             f"({entry['held_out']['folds']} folds)")
        if "warning" in entry:
            warn(f"edgejudge: warning: {entry['key']}: {entry['warning']}")
        warn(f"edgejudge: stored as calibration {entry['id']} in {entry.get('path')}; from now on it applies to "
             f"judge, score, serve and eval verdicts (and Judge.load in Python) of {entry['key']}, with the same "
             f"judging flags; not to demo. --no-calibration ignores it, edgejudge calibrate --remove {entry['id']} "
             "deletes it")


COMMANDS = (eval_command, calibrate)
