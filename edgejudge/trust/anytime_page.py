"""The anytime section of the evaluation page: accuracy against reasoning tokens (inline SVG) and the
table behind it (``trust/anytime.py`` computes both)."""

from __future__ import annotations

from html import escape


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else escape(str(value))


def curve_svg(rows: list[dict], width: int = 520, height: int = 300) -> str:
    """One point per setting (token 0, each P, full reasoning) at (mean reasoning tokens, accuracy),
    joined in order of cost."""
    points = [r for r in rows if r["accuracy"] is not None and r["mean_think_tokens"] is not None]
    left, right, top, bottom = 52, 16, 14, 40
    inner_w, inner_h = width - left - right, height - top - bottom
    most = max((r["mean_think_tokens"] for r in points), default=0.0) or 1.0
    low = min((r["accuracy"] for r in points), default=0.0)
    high = max((r["accuracy"] for r in points), default=1.0)
    low, high = max(0.0, low - 0.05), min(1.0, high + 0.05)
    if high - low < 0.1:
        low, high = max(0.0, high - 0.1), max(high, 0.1)

    def sx(v: float) -> float:
        return round(left + v / most * inner_w, 2)

    def sy(v: float) -> float:
        return round(top + (high - v) / (high - low) * inner_h, 2)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="accuracy against reasoning tokens">',
             "<title>Accuracy against mean reasoning tokens, per --think-until P</title>",
             f'<rect x="{left}" y="{top}" width="{inner_w}" height="{inner_h}" fill="#fafafa" stroke="#999"/>']
    for i in range(5):
        tokens = most * i / 4
        acc = low + (high - low) * i / 4
        parts.append(f'<text x="{sx(tokens)}" y="{top + inner_h + 14}" font-size="10" text-anchor="middle">'
                     f'{tokens:.0f}</text>')
        parts.append(f'<text x="{left - 6}" y="{sy(acc) + 3}" font-size="10" text-anchor="end">{acc:.2f}</text>')
        parts.append(f'<line x1="{left}" y1="{sy(acc)}" x2="{left + inner_w}" y2="{sy(acc)}" stroke="#eee"/>')
    ordered = sorted(points, key=lambda r: r["mean_think_tokens"])
    if len(ordered) > 1:
        path = " ".join(f"{sx(r['mean_think_tokens'])},{sy(r['accuracy'])}" for r in ordered)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#4a7fb5" stroke-width="1.5"/>')
    for r in points:
        colour = "#c0392b" if r["think_until"] is None else "#555" if r["think_until"] == 0 else "#4a7fb5"
        x, y = sx(r["mean_think_tokens"]), sy(r["accuracy"])
        parts.append(f'<circle cx="{x}" cy="{y}" r="3.5" fill="{colour}"><title>{escape(r["setting"])}: accuracy '
                     f'{r["accuracy"]:.3f}, mean {r["mean_think_tokens"]:.0f} reasoning tokens</title></circle>')
        parts.append(f'<text x="{x + 5}" y="{y - 5}" font-size="9">{escape(r["setting"])}</text>')
    parts.append(f'<text x="{left + inner_w / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
                 "mean reasoning tokens per item</text>")
    parts.append(f'<text x="12" y="{top + inner_h / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + inner_h / 2})">accuracy</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def section(result: dict) -> str:
    """The HTML section for ``result`` (``anytime.curve``'s answer)."""
    rows = result["rows"]
    body = "".join(
        f'<tr><td class="l">{escape(r["setting"])}</td><td>{_num(r["accuracy"])}</td><td>{_num(r["kappa"])}</td>'
        f'<td>{_num(r["ece"])}</td><td>{_num(r["mean_think_tokens"], 1)}</td><td>{_num(r["median_think_tokens"], 1)}</td></tr>'
        for r in rows)
    table = ('<table><tr><th class="l">setting</th><th>accuracy</th><th>kappa</th><th>ECE</th>'
             f"<th>mean tokens</th><th>median tokens</th></tr>{body}</table>")
    best = result.get("recommended_think_until")
    verdict = ("no P of the grid is within a point of full reasoning's accuracy" if best is None else
               f"least reasoning within a point of full reasoning's accuracy: --think-until {best:g}")
    return (f"<h2>Stopping reasoning once settled ({result['n']} items)</h2>"
            f'<div class="row"><div>{curve_svg(rows)}</div><div>{table}</div></div>'
            f"<p>{escape(verdict)} (min-think {result['min_think']}). "
            f'<span class="muted">{escape(result["note"])}.</span></p>')
