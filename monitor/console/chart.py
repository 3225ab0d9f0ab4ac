"""Events over time as an SVG bar chart, drawn on the server (no JavaScript, CSP-safe).

Returns markup built only from numbers and escaped labels, for the template to include with
`|safe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

WIDTH = 720
HEIGHT = 200
PAD_LEFT = 40
PAD_BOTTOM = 24


def bar_chart(days: Sequence[tuple[date, int]], first: date, last: date) -> str:
    """One bar per day from `first` to `last` inclusive; missing days are zero."""
    counts = dict(days)
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if not span:
        span = [first]
    peak = max([counts.get(d, 0) for d in span] + [1])
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_BOTTOM - 8
    bar_w = plot_w / len(span)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Events per day from {first} to {last}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{PAD_LEFT}" y1="{8 + plot_h}" x2="{WIDTH - 8}" y2="{8 + plot_h}" '
        'class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="14" class="label" text-anchor="end">{peak}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{8 + plot_h}" class="label" text-anchor="end">0</text>',
    ]
    for i, day in enumerate(span):
        n = counts.get(day, 0)
        h = plot_h * n / peak
        x = PAD_LEFT + i * bar_w
        title = escape(f"{day.isoformat()}: {n} events")
        parts.append(
            f'<rect x="{x + 0.5:.1f}" y="{8 + plot_h - h:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
            f'height="{h:.1f}" class="bar"><title>{title}</title></rect>'
        )
    step = max(1, len(span) // 6)
    for i in range(0, len(span), step):
        x = PAD_LEFT + i * bar_w
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" class="label">'
            f'{escape(span[i].strftime("%d %b"))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
