"""Charts drawn on the server as SVG text: grouped horizontal bars and histograms, no JavaScript, no CDN.

Colours and fonts are SVG presentation attributes (fill=, font-size=), which the strict CSP allows, never a
style attribute or element (style-src 'self' blocks those). Each chart is an <svg role="img"> named by its
<title> and described by a <desc> that states the numbers; pages also give the numbers in a table. Every
text that reaches the SVG is escaped: label names come from imported datasets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif"
INK, MUTED, GRID = "#1c2430", "#5d6b7e", "#dde2e9"
LABEL_CHARS = 28  # what fits the 170-unit label column at font size 11


@dataclass(frozen=True)
class Series:
    """One source of values in a grouped bar chart (e.g. "mined"), one value per category (None: no value)."""

    name: str
    values: Sequence[float | None]
    colour: str


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _num(value: float) -> str:
    """A coordinate: short, and never in exponent notation."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, *, size: int = 11, anchor: str = "start", fill: str = INK) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">'
        f"{escape(text)}</text>"
    )


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    """A label cut to fit the label column (the bars' own titles and the description keep it whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(chart_id: str, title: str, desc: str, width: float, height: float) -> list[str]:
    ident = escape(chart_id)
    return [
        f'<svg xmlns="{SVG_NS}" class="plot" id="{ident}" role="img" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'width="{_num(width)}" height="{_num(height)}" font-family="{FONT}" '
        f'aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def grouped_bars(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    max_value: float | None = None,
    fmt: Callable[[float], str] = percent,
) -> SafeString:
    """Horizontal bars, one group per category and one bar per series, with a legend on top.

    `max_value` is the value of a full-width bar; by default the largest value rounded up to a tenth, so
    that low shares (most findings are in a few percent of reports) still get bars one can compare."""
    if max_value is None:
        largest = max((v for s in series for v in s.values if v is not None), default=0.0)
        max_value = max(0.1, math.ceil(largest * 10 - 1e-9) / 10)
    label_w, bar_w, value_w = 170, 300, 56
    bar_h, gap, group_gap, legend_h = 9, 2, 10, 22
    width = label_w + bar_w + value_w
    group_h = len(series) * (bar_h + gap) - gap + group_gap
    height = legend_h + max(1, len(categories)) * group_h + 6
    scale = bar_w / max_value if max_value > 0 else 0.0
    words = "; ".join(
        f"{category}: "
        + ", ".join(f"{s.name} {'no value' if s.values[i] is None else fmt(s.values[i])}" for s in series)
        for i, category in enumerate(categories)
    )
    out = _open(chart_id, title, words or "No values.", width, height)
    x = label_w
    for s in series:
        out.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{escape(s.colour)}"/>')
        out.append(_text(x + 14, 13, s.name, fill=MUTED))
        x += 24 + 7 * len(s.name)
    for i, category in enumerate(categories):
        top = legend_h + i * group_h
        middle = top + (len(series) * (bar_h + gap) - gap) / 2
        out.append(_text(label_w - 6, middle + 4, _short(category), anchor="end"))
        for j, s in enumerate(series):
            value = s.values[i]
            y = top + j * (bar_h + gap)
            if value is None:
                out.append(_text(label_w + 2, y + bar_h - 1, "–", size=9, fill=MUTED))
                continue
            w = max(0.0, min(bar_w, value * scale))
            out.append(
                f'<rect x="{label_w}" y="{_num(y)}" width="{_num(w)}" height="{bar_h}" fill="{escape(s.colour)}">'
                f"<title>{escape(f'{category}, {s.name}: {fmt(value)}')}</title></rect>"
            )
            out.append(_text(label_w + w + 4, y + bar_h - 1, fmt(value), size=9, fill=MUTED))
    out.append(f'<line x1="{label_w}" y1="{legend_h - 2}" x2="{label_w}" y2="{_num(height - 4)}" stroke="{GRID}"/>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 -- every text above is escaped, every number formatted


def histogram(
    chart_id: str,
    title: str,
    bins: Sequence[tuple[float, float, int]],
    *,
    x_label: str,
    marks: Sequence[tuple[float, str]] = (),
    colour: str = "#1f6feb",
) -> SafeString:
    """Vertical bars of counts over [lo, hi) bins laid side by side; `marks` draws dashed lines (thresholds)."""
    left, right, top, bottom = 44, 12, 20, 36  # the top margin holds the marks' labels
    plot_w, plot_h = 460, 150
    width, height = left + plot_w + right, top + plot_h + bottom
    lo = bins[0][0] if bins else 0.0
    hi = bins[-1][1] if bins else 1.0
    span = (hi - lo) or 1.0
    peak = max((n for _, _, n in bins), default=0)
    total = sum(n for _, _, n in bins)

    def x_of(value: float) -> float:
        return left + (value - lo) / span * plot_w

    def y_of(count: float) -> float:
        return top + plot_h - (count / peak * plot_h if peak else 0.0)

    nonzero = [f"{a:.2f}–{b:.2f}: {n}" for a, b, n in bins if n]
    desc = f"{total} values. " + ("; ".join(nonzero) if nonzero else "No values.")
    out = _open(chart_id, title, desc, width, height)
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="{MUTED}"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="{MUTED}"/>')
    out.append(_text(left - 4, top + 4, str(peak), size=10, anchor="end", fill=MUTED))
    out.append(_text(left - 4, base, "0", size=10, anchor="end", fill=MUTED))
    for a, b, n in bins:
        if not n:
            continue
        x0, x1 = x_of(a), x_of(b)
        y = y_of(n)
        out.append(
            f'<rect x="{_num(x0 + 0.5)}" y="{_num(y)}" width="{_num(max(0.5, x1 - x0 - 1))}" '
            f'height="{_num(base - y)}" fill="{escape(colour)}"><title>{escape(f"{a:.2f}–{b:.2f}: {n}")}</title></rect>'
        )
    for i in range(5):
        value = lo + span * i / 4
        x = x_of(value)
        out.append(f'<line x1="{_num(x)}" y1="{base}" x2="{_num(x)}" y2="{base + 4}" stroke="{MUTED}"/>')
        out.append(_text(x, base + 15, f"{value:.2f}", size=10, anchor="middle", fill=MUTED))
    for value, label in marks:
        if lo <= value <= hi:
            x = x_of(value)
            out.append(
                f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{base}" stroke="#cf222e" '
                f'stroke-dasharray="4 3"><title>{escape(label)}</title></line>'
            )
            out.append(_text(x, top - 5, label, size=9, anchor="middle", fill="#cf222e"))
    out.append(_text(left + plot_w / 2, height - 4, x_label, size=10, anchor="middle", fill=MUTED))
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 -- every text above is escaped, every number formatted


@dataclass(frozen=True)
class Point:
    """One point of a scatter plot; `label` is its tooltip, `filled` False draws a ring."""

    x: float
    y: float
    colour: str
    label: str = ""
    filled: bool = True


def scatter(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    *,
    x_label: str,
    y_label: str,
    legend: Sequence[tuple[str, str]] = (),
    low: float | None = None,
    high: float = 1.0,
    desc: str = "",
) -> SafeString:
    """Points on two axes of one scale from `low` to `high` (by default the lowest value rounded down to a
    tenth), with the diagonal y = x: a point on it is an estimate equal to the truth."""
    if low is None:
        smallest = min((min(p.x, p.y) for p in points), default=high - 0.5)
        low = min(high - 0.1, math.floor(smallest * 10 + 1e-9) / 10)
    span = (high - low) or 1.0
    left, right, top, bottom, side = 48, 16, 24 if legend else 10, 40, 300
    width, height = left + side + right, top + side + bottom

    def x_of(value: float) -> float:
        return left + (min(max(value, low), high) - low) / span * side

    def y_of(value: float) -> float:
        return top + side - (min(max(value, low), high) - low) / span * side

    out = _open(chart_id, title, desc or f"{len(points)} points.", width, height)
    x = left
    for name, colour in legend:
        out.append(f'<circle cx="{x + 5}" cy="10" r="4" fill="{escape(colour)}"/>')
        out.append(_text(x + 13, 14, name, fill=MUTED))
        x += 26 + 7 * len(name)
    base = top + side
    for i in range(6):
        value = low + span * i / 5
        px, py = x_of(value), y_of(value)
        out.append(f'<line x1="{_num(px)}" y1="{top}" x2="{_num(px)}" y2="{base}" stroke="{GRID}"/>')
        out.append(f'<line x1="{left}" y1="{_num(py)}" x2="{left + side}" y2="{_num(py)}" stroke="{GRID}"/>')
        out.append(_text(px, base + 14, f"{value:.2f}", size=10, anchor="middle", fill=MUTED))
        out.append(_text(left - 4, py + 3, f"{value:.2f}", size=10, anchor="end", fill=MUTED))
    out.append(
        f'<line x1="{left}" y1="{base}" x2="{left + side}" y2="{top}" stroke="{MUTED}" stroke-dasharray="4 3">'
        "<title>estimate equal to the truth</title></line>"
    )
    out.append(f'<rect x="{left}" y="{top}" width="{side}" height="{side}" fill="none" stroke="{MUTED}"/>')
    for p in points:
        colour = escape(p.colour)
        paint = f'fill="{colour}" fill-opacity="0.7"' if p.filled else f'fill="none" stroke="{colour}"'
        tip = f"<title>{escape(p.label)}</title>" if p.label else ""
        out.append(f'<circle cx="{_num(x_of(p.x))}" cy="{_num(y_of(p.y))}" r="3" {paint}>{tip}</circle>')
    out.append(_text(left + side / 2, height - 6, x_label, size=10, anchor="middle", fill=MUTED))
    out.append(
        f'<text x="12" y="{_num(top + side / 2)}" font-size="10" text-anchor="middle" fill="{MUTED}" '
        f'transform="rotate(-90 12 {_num(top + side / 2)})">{escape(y_label)}</text>'
    )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 -- every text above is escaped, every number formatted
