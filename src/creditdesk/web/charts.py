"""Bar charts drawn on the server as SVG: no script, no CDN, no inline style.

A chart is decoration beside its table, which carries the same numbers for
screen readers and for reading exact values: the SVG has a title naming what
it shows and is otherwise hidden from assistive technology. Colours come from
classes in static/reports.css (the CSP refuses inline styles).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 440
LABEL_WIDTH = 150
VALUE_WIDTH = 80
BAR_HEIGHT = 18
GAP = 8


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label and one value per series (stacked left to right)."""

    label: str
    values: Sequence[Decimal | int]
    text: str  # the figure written at the bar's end


def bar_chart(title: str, bars: Sequence[Bar], series: Sequence[str]) -> Markup:
    """Horizontal bars, one row per ``Bar``, series ``0..n`` stacked with the
    classes ``series-0``, ``series-1``...; ``series`` names them in a key."""
    top = 24 if len(series) > 1 else 0
    height = top + max(1, len(bars)) * (BAR_HEIGHT + GAP)
    scale = max((sum(bar.values) for bar in bars), default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" focusable="false">',
        f"<title>{escape(title)}</title>",
    ]
    if len(series) > 1:
        parts += _key(series)
    for index, bar in enumerate(bars):
        y = top + index * (BAR_HEIGHT + GAP)
        parts.append(
            f'<text class="chart-label" x="{LABEL_WIDTH - 6}" y="{y + 13}" '
            f'text-anchor="end">{escape(_short(bar.label))}</text>'
        )
        x = Decimal(LABEL_WIDTH)
        for number, value in enumerate(bar.values):
            width = Decimal(room) * Decimal(value) / Decimal(scale)
            parts.append(
                f'<rect class="series-{number}" x="{x:.1f}" y="{y}" '
                f'width="{width:.1f}" height="{BAR_HEIGHT}"/>'
            )
            x += width
        parts.append(
            f'<text class="chart-value" x="{x + 4:.1f}" y="{y + 13}">'
            f"{escape(bar.text)}</text>"
        )
    parts.append("</svg>")
    # Every piece of text in the parts went through escape() above.
    return Markup("".join(parts))  # noqa: S704


def _key(series: Sequence[str]) -> list[str]:
    parts = []
    for number, name in enumerate(series):
        x = LABEL_WIDTH + number * 140
        parts.append(
            f'<rect class="series-{number}" x="{x}" y="2" width="12" height="12"/>'
            f'<text class="chart-label" x="{x + 16}" y="13">{escape(name)}</text>'
        )
    return parts


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
