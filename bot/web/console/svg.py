"""Charts for the results and experiments pages, drawn on the server as SVG: no chart library,
no script, and every label escaped (``Markup.format`` escapes what it is given)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup

from bot.results.intervals import Proportion

# Calm colours, told apart also by position and label (never by colour alone).
PALETTE = ("#4f6bed", "#2f9e8f", "#d9822b", "#8e6bbf", "#c2557a", "#5b8c3a", "#7a8699")
INK, MUTED, LINE = "#1d2330", "#5b6475", "#e3e6ec"


def _svg(width: int, height: int, label: str, body: list[Markup]) -> Markup:
    head = Markup(
        '<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"'
        ' aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
    ).format(w=width, h=height, label=label)
    return head + Markup("").join(body) + Markup("</svg>")


def _text(x: float, y: float, text: object, *, anchor: str = "start", cls: str = "") -> Markup:
    return Markup('<text x="{x:.1f}" y="{y:.1f}" text-anchor="{a}" class="{c}">{t}</text>').format(
        x=x, y=y, a=anchor, c=cls, t=text
    )


def _line(
    x1: float, x2: float, y1: float, y2: float, *, cls: str = "", stroke: str = ""
) -> Markup:
    paint = Markup(' stroke="{}"').format(stroke) if stroke else Markup("")
    return Markup(
        '<line x1="{a:.1f}" x2="{b:.1f}" y1="{c:.1f}" y2="{d:.1f}" class="{k}"{p}/>'
    ).format(a=x1, b=x2, c=y1, d=y2, k=cls, p=paint)


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str = "") -> Markup:
    tip = Markup("<title>{}</title>").format(title) if title else Markup("")
    return Markup(
        '<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="2" fill="{f}">'
        "{tip}</rect>"
    ).format(x=x, y=y, w=max(w, 0.0), h=max(h, 0.0), f=fill, tip=tip)


def hbars(
    items: Sequence[tuple[str, float, str]],
    *,
    label: str,
    top: float | None = None,
    colour: str = PALETTE[0],
) -> Markup:
    """Horizontal bars: (label, value, the value as shown), against ``top`` (else the largest)."""
    longest = max((len(name) for name, _, _ in items), default=0)
    width, row, right = 560, 24, 80
    left = min(max(60, 7 * longest + 12), 260)
    height = row * len(items) + 8
    top = top or max((v for _, v, _ in items), default=0) or 1
    span = width - left - right
    body: list[Markup] = []
    for i, (name, value, shown) in enumerate(items):
        y = 4 + i * row
        body.append(_text(left - 8, y + 17, name, anchor="end", cls="axis"))
        body.append(_rect(left, y + 4, span, row - 8, "#f1f3f7"))
        body.append(
            _rect(left, y + 4, span * min(value / top, 1.0), row - 8, colour, f"{name}: {shown}")
        )
        body.append(_text(width - right + 8, y + 17, shown, cls="value"))
    return _svg(width, height, label, body)


def columns(
    days: Sequence[date],
    series: dict[str, Sequence[float]],
    *,
    label: str,
    shown: dict[str, Sequence[str]] | None = None,
) -> Markup:
    """Columns per day, stacked when there are several series (one colour each, with a key)."""
    width, height, left, bottom, top = 1040, 190, 56, 24, 10
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(days))]
    highest = max(totals, default=0) or 1
    plot_h, slot = height - bottom - top, (width - left - 8) / max(len(days), 1)
    body: list[Markup] = []
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        body.append(_line(left, width - 8, y, y, stroke=LINE))
        body.append(_text(left - 6, y + 4, _short(highest * frac), anchor="end", cls="axis"))
    for i, day in enumerate(days):
        base = top + plot_h
        for k, name in enumerate(names):
            value = series[name][i]
            h = plot_h * value / highest
            tip = shown[name][i] if shown else _short(value)
            title = f"{day.isoformat()} · {name}: {tip}" if len(names) > 1 else f"{day}: {tip}"
            body.append(
                _rect(
                    left + slot * i + 1,
                    base - h,
                    max(slot - 2, 1),
                    h,
                    PALETTE[k % len(PALETTE)],
                    title,
                )
            )
            base -= h
    step = max(1, len(days) // 10)
    for i in range(0, len(days), step):
        body.append(
            _text(
                left + slot * (i + 0.5),
                height - 6,
                days[i].strftime("%b %d"),
                anchor="middle",
                cls="axis",
            )
        )
    return _svg(width, height, label, body) + (_key(names) if len(names) > 1 else Markup(""))


def _key(names: Sequence[str]) -> Markup:
    items = Markup("").join(
        Markup('<li><span class="swatch" style="background:{c}"></span>{n}</li>').format(
            c=PALETTE[k % len(PALETTE)], n=name
        )
        for k, name in enumerate(names)
    )
    return Markup('<ul class="chart-key">{}</ul>').format(items)


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    cells: Sequence[Sequence[float | None]],
    *,
    label: str,
) -> Markup:
    """A matrix of shares (0–1), each cell shaded by its share and labelled with it."""
    cell_w, cell_h, left, head = 70, 28, 90, 26
    width, height = left + cell_w * len(cols) + 4, head + cell_h * len(rows) + 4
    body: list[Markup] = []
    for j, col in enumerate(cols):
        body.append(_text(left + cell_w * (j + 0.5), 17, col, anchor="middle", cls="axis"))
    for i, row in enumerate(rows):
        y = head + i * cell_h
        body.append(_text(left - 8, y + 18, row, anchor="end", cls="axis"))
        for j, value in enumerate(cells[i]):
            share = value or 0.0
            body.append(
                Markup(
                    '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{f}"'
                    ' fill-opacity="{o:.2f}" stroke="#fff"><title>{t}</title></rect>'
                ).format(
                    x=left + j * cell_w,
                    y=y,
                    w=cell_w,
                    h=cell_h,
                    f=PALETTE[0],
                    o=0.06 + 0.9 * share,
                    t=f"{row} → {cols[j]}: {share:.1%}",
                )
            )
            if value:
                tone = "cell dark" if share > 0.5 else "cell"
                x = left + cell_w * (j + 0.5)
                body.append(_text(x, y + 18, f"{share:.0%}", anchor="middle", cls=tone))
    return _svg(width, height, label, body)


# An experiment arm's rate: axis tops to choose from, the smallest that holds every interval.
SCALES = (0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.8, 1.0)


def whiskers(control: Proportion, challenger: Proportion, *, label: str) -> Markup:
    """A control bar and a challenger bar, each with its 95% interval as a whisker."""
    width, height, left, right, top, base, bar, cap = 300, 150, 40, 288, 14, 116, 46, 5
    arms = (("Control", "control", control), ("Challenger", "challenger", challenger))
    highest = max((p.high for _, _, p in arms if p.high is not None), default=0.0)
    scale = next((s for s in SCALES if highest <= s), 1.0)

    def y_of(value: float) -> float:
        return base - (base - top) * min(value, scale) / scale

    body: list[Markup] = []
    for frac in (0.0, 0.5, 1.0):
        y = y_of(scale * frac)
        body.append(_line(left, right, y, y, cls="grid"))
        tick = f"{scale * frac * 100:.0f}%" if scale >= 0.1 else f"{scale * frac * 100:.1f}%"
        body.append(_text(left - 6, y + 4, tick, anchor="end", cls="tick"))
    slot = (right - left) / len(arms)
    shown = []
    for i, (name, kind, p) in enumerate(arms):
        centre = left + slot * (i + 0.5)
        shown.append(f"{name} {'no figures yet' if p.rate is None else f'{p.rate:.1%}'}")
        if p.rate is not None:
            y, low, high = y_of(p.rate), y_of(p.low or 0.0), y_of(p.high or 0.0)
            body.append(
                Markup(
                    '<rect class="bar {k}" x="{x:.1f}" y="{y:.1f}" width="{w}" height="{h:.1f}"'
                    ' rx="2"/>'
                ).format(k=kind, x=centre - bar / 2, y=y, w=bar, h=base - y)
            )
            body.append(_line(centre, centre, high, low, cls="whisker"))
            for end in (high, low):
                body.append(_line(centre - cap, centre + cap, end, end, cls="whisker"))
            # The figure beside the bar's top, never above the plot.
            body.append(_text(centre + bar / 2 + 5, max(y + 4, top + 4), f"{p.rate:.1%}",
                              cls="value"))  # fmt: skip
        body.append(_text(centre, base + 16, name, anchor="middle", cls="arm-label"))
    if all(p.rate is None for _, _, p in arms):
        body.append(_text((left + right) / 2, base / 2, "No figures yet", anchor="middle",
                          cls="tick"))  # fmt: skip
    return _svg(width, height, f"{label}: {', '.join(shown)}", body)


def _short(value: float) -> str:
    """A number for an axis: 1,200 → 1.2k."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
