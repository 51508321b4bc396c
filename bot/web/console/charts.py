"""Small bar charts the console draws as SVG in its templates: the geometry is worked out here,
so a page needs no chart library and no script."""

from __future__ import annotations

from typing import Any

from bot.results.intervals import Proportion

WIDTH, HEIGHT = 300, 150
LEFT, RIGHT = 40, 12  # room for the axis labels on the left
TOP, BOTTOM = 14, 116  # the plot's top and its baseline
BAR = 46
# Axis tops to choose from: the smallest that holds every interval's upper end.
SCALES = (0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.8, 1.0)


def _scale(highest: float) -> float:
    return next((top for top in SCALES if highest <= top), 1.0)


def _y(value: float, top: float) -> float:
    return round(BOTTOM - (BOTTOM - TOP) * min(value, top) / top, 1)


def comparison(control: Proportion, challenger: Proportion) -> dict[str, Any]:
    """A control bar and a challenger bar with their 95% intervals as whiskers."""
    arms = (("Control", "control", control), ("Challenger", "challenger", challenger))
    top = _scale(max((p.high for _, _, p in arms if p.high is not None), default=0.0))
    grid = [
        {"y": _y(top * f, top), "label": f"{top * f * 100:.0f}%" if top >= 0.1 else
         f"{top * f * 100:.1f}%"}
        for f in (0.0, 0.5, 1.0)
    ]  # fmt: skip
    slot = (WIDTH - LEFT - RIGHT) / len(arms)
    bars = []
    for i, (label, kind, p) in enumerate(arms):
        centre = LEFT + slot * i + slot / 2
        bar: dict[str, Any] = {"label": label, "kind": kind, "cx": round(centre, 1), "value": None}
        if p.rate is not None:
            y = _y(p.rate, top)
            bar.update(
                x=round(centre - BAR / 2, 1), y=y, h=round(BOTTOM - y, 1),
                low=_y(p.low or 0.0, top), high=_y(p.high or 0.0, top),
                value=f"{p.rate * 100:.1f}%",
                # The figure beside the bar's top, never above the plot.
                vx=round(centre + BAR / 2 + 5, 1), vy=max(y + 4, TOP + 4),
            )  # fmt: skip
        bars.append(bar)
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "baseline": BOTTOM, "grid": grid, "bars": bars, "bar": BAR, "cap": 5,
        "empty": all(p.rate is None for _, _, p in arms),
    }  # fmt: skip
