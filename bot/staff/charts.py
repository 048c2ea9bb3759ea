"""Bar charts as SVG drawn on the server, for the statistics page (統計).

Inline in the page, with colours as presentation attributes (no <style>, no script), so the console's
``Content-Security-Policy: default-src 'self'`` holds, nothing is fetched from elsewhere, and the charts print on A4
like the tables beside them. Chart libraries we looked at (pygal, matplotlib's SVG backend) write <style> blocks or
inline ``style=`` attributes, which that policy refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 20, 40
BAR = "#2f6f8f"
GRID = "#d0d7de"
TEXT = "#24292f"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: nothing to show (no data), drawn as an empty slot


def bar_chart(title: str, bars: list[Bar], unit: str = "", top: float | None = None) -> Markup:
    """A vertical bar chart; ``top`` fixes the scale (100 for a rate in percent), else it follows the data."""
    values = [b.value for b in bars if b.value is not None]
    if top is not None:
        scale_top = top
    elif all(float(v).is_integer() for v in values):
        scale_top = 4 * _nice(max(values, default=0) / 4)  # counts: every grid line on a whole number
    else:
        scale_top = _nice(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(bars))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for step in range(5):
        value = scale_top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="13" fill="{TEXT}">'
            f"{_number(value)}</text>"
        )
    for i, bar in enumerate(bars):
        x = LEFT + slot * i
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="13" '
            f'fill="{TEXT}">{escape(bar.label)}</text>'
        )
        if bar.value is None:
            continue
        height = plot_h * min(bar.value, scale_top) / scale_top if scale_top else 0
        y = TOP + plot_h - height
        parts.append(
            f'<rect x="{x + slot * 0.2:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" height="{height:.1f}" '
            f'fill="{BAR}"><title>{escape(bar.label)}: {_number(bar.value)}{escape(unit)}</title></rect>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="13" '
            f'fill="{TEXT}">{_number(bar.value)}</text>'
        )
    if unit:
        parts.append(f'<text x="4" y="{TOP - 4}" font-size="13" fill="{TEXT}">（{escape(unit)}）</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice(value: float) -> float:
    """A round number (1, 2, 5 × 10ⁿ, at least 1) at or above ``value``."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
