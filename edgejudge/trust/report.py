"""The evaluation as one self-contained HTML page: no network, no scripts, inline SVG and CSS.

Sections: the headline figures with their bootstrap intervals (and the model's own, uncalibrated
figures beside them), a reliability diagram, the confusion matrix, position consistency and
length bias, the figures per task and variant, and the ids of the items the judge got wrong.
"""

from __future__ import annotations

from html import escape

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:62em;color:#1b1b1b;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.3em .7em;border:1px solid #ddd;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.muted{color:#666}.ids{font-family:monospace;font-size:.9em}
.row{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}
"""

METRICS = (("accuracy", "Accuracy", "share of verdicts equal to the gold label"),
           ("kappa", "Cohen's kappa", "agreement beyond chance (1 perfect, 0 chance)"),
           ("ece", "ECE", "expected calibration error, 10 equal-width bins (0 is perfect)"),
           ("brier", "Brier", "mean squared error of the probabilities (0 is perfect, 2 worst)"))


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _interval(pair) -> str:
    return "–" if not pair else f"{pair[0]:.3f} – {pair[1]:.3f}"


def reliability_svg(rows: list[dict], size: int = 320) -> str:
    """Accuracy per confidence bin (bars) against the diagonal of perfect calibration."""
    pad, inner = 44, size - 64
    x0, y0 = pad, 16 + inner

    def sx(v: float) -> float:
        return round(x0 + v * inner, 2)

    def sy(v: float) -> float:
        return round(y0 - v * inner, 2)

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
              f'viewBox="0 0 {size} {size}" role="img" aria-label="reliability diagram">'),
             "<title>Reliability diagram: accuracy per confidence bin</title>",
             f'<rect x="{x0}" y="{sy(1)}" width="{inner}" height="{inner}" fill="#fafafa" stroke="#999"/>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{sx(tick)}" y1="{y0}" x2="{sx(tick)}" y2="{y0 + 4}" stroke="#999"/>')
        parts.append(f'<text x="{sx(tick)}" y="{y0 + 16}" font-size="10" text-anchor="middle">{tick:g}</text>')
        parts.append(f'<line x1="{x0 - 4}" y1="{sy(tick)}" x2="{x0}" y2="{sy(tick)}" stroke="#999"/>')
        parts.append(f'<text x="{x0 - 6}" y="{sy(tick) + 3}" font-size="10" text-anchor="end">{tick:g}</text>')
    for row in rows:
        if not row["n"]:
            continue
        left, width = sx(row["lo"]) + 1, round((row["hi"] - row["lo"]) * inner - 2, 2)
        parts.append(f'<rect x="{left}" y="{sy(row["accuracy"])}" width="{width}" '
                     f'height="{round(row["accuracy"] * inner, 2)}" fill="#4a7fb5" opacity="0.8">'
                     f'<title>confidence {row["lo"]:.1f}–{row["hi"]:.1f}: {row["n"]} items, '
                     f'accuracy {row["accuracy"]:.3f}, mean confidence {row["confidence"]:.3f}</title></rect>')
        parts.append(f'<line x1="{left}" y1="{sy(row["confidence"])}" x2="{round(left + width, 2)}" '
                     f'y2="{sy(row["confidence"])}" stroke="#c0392b" stroke-width="2"/>')
        parts.append(f'<text x="{round(left + width / 2, 2)}" y="{sy(row["accuracy"]) - 3}" font-size="9" '
                     f'text-anchor="middle">{row["n"]}</text>')
    parts.append(f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(1)}" y2="{sy(1)}" stroke="#555" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{sx(0.5)}" y="{size - 4}" font-size="11" text-anchor="middle">confidence (top label)</text>')
    parts.append(f'<text x="12" y="{sy(0.5)}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {sy(0.5)})">accuracy</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def confusion_table(confusion: dict) -> str:
    labels, matrix = confusion["labels"], confusion["matrix"]
    top = max((v for row in matrix for v in row), default=0) or 1
    head = "".join(f"<th>{escape(label)}</th>" for label in labels)
    body = []
    for label, row in zip(labels, matrix):
        cells = "".join(f'<td style="background:rgba(74,127,181,{round(0.75 * v / top, 3)})">{v}</td>' for v in row)
        body.append(f'<tr><th class="l">{escape(label)}</th>{cells}</tr>')
    return (f'<table><tr><th class="l">gold \\ verdict</th>{head}</tr>{"".join(body)}</table>')


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th class="{"l" if i == 0 else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i == 0 else ""}">{c}</td>' for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(result: dict, *, title: str = "edgejudge evaluation", subtitle: str = "") -> str:
    """The page, as text (write it with ``edgejudge.files.write_atomic``)."""
    raw = "ece_raw" in result
    header = ["figure", "value", "95% interval"] + (["uncalibrated"] if raw else []) + ["meaning"]
    rows = []
    for key, name, meaning in METRICS:
        row = [escape(name), _num(result.get(key)), _interval(result.get("intervals", {}).get(key))]
        if raw:
            row.append(_num(result.get(f"{key}_raw")))
        rows.append(row + [f'<span class="muted">{escape(meaning)}</span>'])
    counts = (f"{result['n']} items: {result['answered']} answered, {result['abstained']} abstained, "
              f"{result['errors']} error records, {result.get('missing', 0)} without a record "
              f"(coverage {_num(result.get('coverage'))})")
    parts = [f"<h1>{escape(title)}</h1>", f'<p class="muted">{escape(subtitle)}</p>' if subtitle else "",
             f"<p>{escape(counts)}</p>", _table(header, rows)]
    parts.append('<h2>Calibration and agreement</h2><div class="row"><div>')
    parts.append(reliability_svg(result.get("reliability", [])))
    parts.append('<p class="muted">Bars: accuracy per bin (count on top); red: mean confidence; '
                 "dashed: perfect calibration.</p></div><div>")
    parts.append(confusion_table(result.get("confusion", {"labels": [], "matrix": []})))
    parts.append("</div></div>")
    extra = []
    if result.get("position_consistency") is not None:
        extra.append(["position consistency (both orders agree)", _num(result["position_consistency"])])
    bias = result.get("length_bias")
    if bias:
        extra += [["accuracy when A is longer", f"{_num(bias['accuracy_a_longer'])} ({bias['n_a_longer']} items)"],
                  ["accuracy when B is longer", f"{_num(bias['accuracy_b_longer'])} ({bias['n_b_longer']} items)"],
                  ["verdicts picking the longer response", _num(bias["picks_longer"])],
                  ["gold labels picking the longer response", _num(bias["gold_longer"])]]
    for stage, count in (result.get("decided_by") or {}).items():
        extra.append([f"decided by stage {escape(str(stage))}", str(count)])
    if extra:
        parts.append("<h2>Biases and stages</h2>" + _table(["figure", "value"], extra))
    groups = result.get("groups") or {}
    if groups:
        parts.append("<h2>Per task and variant</h2>")
        parts.append(_table(["task/variant", "n", "answered", "abstained", "accuracy", "kappa", "ECE", "Brier"],
                            [[escape(name), str(g["n"]), str(g["answered"]), str(g["abstained"]), _num(g["accuracy"]),
                              _num(g["kappa"]), _num(g["ece"]), _num(g["brier"])] for name, g in groups.items()]))
    checks = result.get("calibration_check") or {}
    if checks:
        parts.append("<h2>Calibration, held out, per task</h2>")
        parts.append(_table(["task", "n", "folds", "ECE raw", "ECE calibrated", "NLL raw", "NLL calibrated"],
                            [[escape(task), str(c["n"]), str(c["folds"]), _num(c["ece_raw"]), _num(c["ece_calibrated"]),
                              _num(c["nll_raw"]), _num(c["nll_calibrated"])] for task, c in checks.items()]))
        parts.append('<p class="muted">What a calibration fitted on these items does to items it did not see '
                     "(k folds; both orders of a pair in one fold).</p>")
    dropped = {k: v for k, v in ((result.get("resamples") or {}).get("dropped") or {}).items() if v}
    if dropped:
        parts.append('<p class="muted">Bootstrap resamples dropped where the figure is undefined: '
                     + escape(", ".join(f"{k} {v} of {result['resamples']['n']}" for k, v in dropped.items()))
                     + "</p>")
    if result.get("anytime"):
        from edgejudge.trust import anytime_page

        parts.append(anytime_page.section(result["anytime"]))
    wrong = result.get("disagree", [])
    parts.append(f"<h2>Items the judge got wrong ({len(wrong)})</h2>")
    parts.append(f'<p class="ids">{escape(", ".join(map(str, wrong[:500])))}'
                 f'{" …" if len(wrong) > 500 else ""}</p>')
    body = "\n".join(p for p in parts if p)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
