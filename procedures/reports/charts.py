"""Geometry for the dashboard's server-rendered SVG charts.

The strict CSP (no inline script, no style attributes) rules out a script
charting library's runtime styling; the templates draw SVG elements with
presentation attributes from these numbers. Every chart has a text alternative
(its `<title>`) and the same figures in a table beside it.
"""

from dataclasses import dataclass


@dataclass
class Bar:
    label: str
    value: float
    text: str  # the figure written beside the bar
    y: float
    text_y: float
    width: float
    value_x: float


@dataclass
class BarChart:
    bars: list[Bar]
    left: int
    bar_height: int
    width: int
    height: int
    axis_y: float
    marker_x: float | None  # a dashed line at a reference value (100%, a target)


def bar_chart(
    items: list[tuple[str, float, str]],
    *,
    top: float | None = None,
    marker: float | None = None,
    left: int = 240,
    plot_width: int = 300,
) -> BarChart:
    """Horizontal bars for (label, value, text) items, scaled to `top` (default: the
    largest value or the marker)."""
    bar_height, gap = 20, 12
    scale_top = max([top or 0, marker or 0, *(value for _l, value, _t in items), 1e-9])
    scale = plot_width / scale_top
    bars = []
    for index, (label, value, text) in enumerate(items):
        y = index * (bar_height + gap) + 8
        width = round(max(value, 0) * scale, 1)
        bars.append(
            Bar(
                label=label,
                value=value,
                text=text,
                y=y,
                text_y=y + bar_height * 0.72,
                width=max(width, 1) if value > 0 else 0,
                value_x=round(left + width + 6, 1),
            )
        )
    axis_y = len(items) * (bar_height + gap) + 8
    return BarChart(
        bars=bars,
        left=left,
        bar_height=bar_height,
        width=left + plot_width + 70,
        height=axis_y + 10,
        axis_y=axis_y,
        marker_x=round(left + marker * scale, 1) if marker is not None else None,
    )
