"""The waterfall of a decision's SHAP contributions, as geometry for an SVG drawn on the server.

From the model's base value, each listed feature moves the margin (log-odds) by its contribution; the
features not listed are summed into one bar; the last bar is the entry's margin, which the calibration maps
to the score. Base value plus every bar's contribution equals the margin exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, LABEL_W, VALUE_W, ROW_H, TOP = 880, 330, 80, 26, 28
LINE_CHARS, LINE_H = 46, 15  # a label longer than a line wraps onto a second, and its row grows by a line


@dataclass(frozen=True)
class Bar:
    kind: str  # base | contribution | rest | total
    label: str
    value: float  # the bar's contribution (base and total: the margin it stands at)
    start: float  # where the bar starts and ends on the margin axis
    end: float
    x: float = 0.0  # drawing, in pixels
    width: float = 0.0
    y: float = 0.0
    text: str = ""
    detail: str = ""  # the entry's value of the feature, as a reviewer reads it
    lines: tuple[str, ...] = ()  # the label as drawn, one or two lines
    height: float = ROW_H


@dataclass(frozen=True)
class Waterfall:
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # x and label of each axis tick
    zero: float  # x of margin 0
    height: int
    axis_y: float  # where the axis's ticks and title are drawn
    width: int = WIDTH
    label_width: int = LABEL_W
    row_height: int = ROW_H


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "\u2212")


def _detail(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def wrap(label: str, width: int = LINE_CHARS) -> tuple[str, ...]:
    """A label in at most two lines of about `width` characters, broken between words; a second line still
    too long ends in an ellipsis (the whole label is in the bar's tooltip)."""
    if len(label) <= width:
        return (label,)
    cut = label.rfind(" ", 0, width + 1)
    first, rest = (label[:cut], label[cut + 1 :]) if cut > 0 else (label[:width], label[width:])
    return (first, rest if len(rest) <= width else rest[: width - 1].rstrip() + "…")


def _nice_step(span: float) -> float:
    raw = span / 6
    for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 50):
        if step >= raw:
            return step
    return raw


def waterfall(
    contributions: list[dict[str, Any]], base_value: float, labels: dict[str, str], top: int = 12
) -> Waterfall:
    """The chart of `contributions` (a decision's, without the bias term): the `top` largest by size, the
    rest summed, from `base_value` to the margin."""
    ranked = sorted(contributions, key=lambda c: -abs(c["contribution"]))
    shown, rest = ranked[:top], ranked[top:]
    steps = [
        ("contribution", labels.get(c["feature"], c["feature"]), c["contribution"], _detail(c.get("value")))
        for c in shown
    ]
    if rest:
        steps.append(("rest", f"{len(rest)} other features", sum(c["contribution"] for c in rest), "—"))
    bars = [Bar("base", "base value (average entry)", base_value, 0.0, base_value)]
    level = base_value
    for kind, label, value, detail in steps:
        bars.append(Bar(kind, label, value, level, level + value, detail=detail))
        level += value
    bars.append(Bar("total", "this entry's margin", level, 0.0, level))
    low = min(0.0, *(min(b.start, b.end) for b in bars))
    high = max(0.0, *(max(b.start, b.end) for b in bars))
    pad = (high - low) * 0.04 or 1.0
    low, high = low - pad, high + pad
    plot = WIDTH - LABEL_W - VALUE_W

    def x_of(v: float) -> float:
        return LABEL_W + (v - low) / (high - low) * plot

    drawn = []
    y = float(TOP)
    for b in bars:
        left, right = sorted((x_of(b.start), x_of(b.end)))
        amount = _signed(b.value) if b.kind in ("contribution", "rest") else f"{b.value:.3f}".replace("-", "\u2212")
        lines = wrap(b.label)
        height = ROW_H + LINE_H * (len(lines) - 1)
        drawn.append(
            Bar(
                b.kind,
                b.label,
                b.value,
                b.start,
                b.end,
                left,
                max(right - left, 1.0),
                y,
                amount,
                b.detail,
                lines,
                height,
            )
        )
        y += height
    step = _nice_step(high - low)
    first = int(low // step) + 1
    ticks = [(x_of(k * step), f"{k * step:g}".replace("-", "\u2212")) for k in range(first, int(high // step) + 1)]
    return Waterfall(drawn, ticks, x_of(0.0), int(y) + 48, axis_y=y)


@dataclass(frozen=True)
class Trend:
    """A line of scores, oldest first, on a 0..1 axis: the points of an SVG polyline, and the last point."""

    points: str
    last: tuple[float, float]
    width: int
    height: int


def trend(scores: list[float], width: int = 320, height: int = 80, pad: float = 4.0) -> Trend | None:
    if not scores:
        return None
    step = (width - 2 * pad) / max(len(scores) - 1, 1)
    xy = [(pad + i * step, pad + (1 - s) * (height - 2 * pad)) for i, s in enumerate(scores)]
    return Trend(" ".join(f"{x:.1f},{y:.1f}" for x, y in xy), xy[-1], width, height)
