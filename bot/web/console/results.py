"""The results page: each section's figures as charts with their numbers, and each table as CSV.

The page is a frame with the period's filters; each section is fetched on its own
(``/results/section/{name}``), so a slow figure never holds back the rest. Admins see every
section, agents the queue they work (checked here, on the server, for pages and CSV alike).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select

from bot.db.models import Debtor
from bot.money import from_minor
from bot.results.buckets import bucket_names
from bot.results.dashboard import AGENT_SECTIONS, SECTIONS, TABLES, section
from bot.results.period import Period, Table
from bot.staff.accounts import Role
from bot.web.console import console_of
from bot.web.console.auth import error_page, signed
from bot.web.console.svg import PALETTE, columns, hbars, heatmap

TITLES = {
    "funnel": "From the book to money",
    "book": "The book over time",
    "channel": "Channel health",
    "queue": "The agent queue",
}
MAX_DAYS = 400
PRESETS = (("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("Last year", 365))


def add_routes(app: web.Application) -> None:
    """The results page, its sections and their CSV files."""
    app.router.add_get("/results", page)
    app.router.add_get("/results/section/{name}", section_fragment)
    app.router.add_get("/results/{table}.csv", csv_file)


def _allowed(request: web.Request) -> tuple[str, ...]:
    return SECTIONS if signed(request).role == Role.ADMIN else AGENT_SECTIONS


class BadPeriod(ValueError):
    """The filters cannot be read; the message says why, politely."""


def _period(request: web.Request) -> Period:
    """The period the query asks for (the last 30 days by default)."""
    console, q = console_of(request), request.query
    today = console.clock().date()
    try:
        end = date.fromisoformat(q["to"]) if q.get("to") else today
        start = date.fromisoformat(q["from"]) if q.get("from") else end - timedelta(days=29)
    except ValueError:
        raise BadPeriod("A date must look like 2026-11-30.") from None
    if start > end:
        raise BadPeriod("The period must start on or before the day it ends.")
    if (end - start).days >= MAX_DAYS:
        raise BadPeriod(f"A period may be at most {MAX_DAYS} days long.")
    stage = q.get("stage") or None
    if stage is not None and stage not in bucket_names(console.policy):
        raise BadPeriod("There is no such stage.")
    locale = q.get("locale") or None
    if locale is not None and (len(locale) > 16 or not locale.replace("_", "").isalnum()):
        raise BadPeriod("There is no such language.")
    return Period(start, end, stage, locale)


def _query(period: Period) -> str:
    parts = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    if period.stage:
        parts["stage"] = period.stage
    if period.locale:
        parts["locale"] = period.locale
    return "&".join(f"{k}={v}" for k, v in parts.items())


async def page(request: web.Request) -> web.StreamResponse:
    """The frame: filters, and a place for each section this person may see."""
    console = console_of(request)
    problem = None
    try:
        period = _period(request)
    except BadPeriod as exc:
        problem, period = str(exc), _default(request)
    async with console.sessions() as s:
        locales = list((await s.execute(select(Debtor.locale).distinct())).scalars())
    today = console.clock().date()
    context = {
        "nav": "results",
        "period": period,
        "query": _query(period),
        "problem": problem,
        "sections": [(name, TITLES[name]) for name in _allowed(request)],
        "stages": bucket_names(console.policy),
        "locales": sorted(locales),
        "presets": [
            (label, (today - timedelta(days=n - 1)).isoformat(), today.isoformat())
            for label, n in PRESETS
        ],
        "admin": signed(request).role == Role.ADMIN,
    }
    return aiohttp_jinja2.render_template("results.html", request, context)


def _default(request: web.Request) -> Period:
    today = console_of(request).clock().date()
    return Period(today - timedelta(days=29), today)


async def _tables(request: web.Request, name: str) -> tuple[Period, list[Table]]:
    console = console_of(request)
    period = _period(request)
    async with console.sessions.begin() as s:
        return period, await section(s, console.policy, period, name)


async def section_fragment(request: web.Request) -> web.StreamResponse:
    """One section's charts and tables (HTML to place in the page)."""
    name = request.match_info["name"]
    if name not in SECTIONS:
        raise web.HTTPNotFound()
    if name not in _allowed(request):
        return await error_page(request, 403, "Not for your role", "This part is for admins.")
    try:
        period, tables = await _tables(request, name)
    except BadPeriod as exc:
        return web.Response(status=400, text=str(exc))
    blocks = [
        {"table": t, "chart": chart(t, period), "rows": shown_rows(t), "csv": t.name}
        for t in tables
    ]
    context = {"blocks": blocks, "query": _query(period), "name": name}
    return aiohttp_jinja2.render_template("results_section.html", request, context)


async def csv_file(request: web.Request) -> web.StreamResponse:
    """One table as CSV, shares as fractions, for the period asked."""
    wanted = request.match_info["table"]
    name = next((n for n in _allowed(request) if wanted in TABLES[n]), None)
    if name is None:
        raise web.HTTPNotFound()
    try:
        period, tables = await _tables(request, name)
    except BadPeriod as exc:
        return web.Response(status=400, text=str(exc))
    table = next(t for t in tables if t.name == wanted)
    return web.Response(
        body=to_csv(table).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{table.name}_'
            f'{period.start.isoformat()}_{period.end.isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts like a formula; text from the database never does.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else value


def to_csv(table: Table) -> str:
    """A table as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    return out.getvalue()


def shown_rows(table: Table) -> list[list[tuple[str, bool]]]:
    """A table's rows as people read them, each cell with whether it is a number (aligned
    right): shares as percentages, counts with separators."""
    shown = []
    for row in table.rows:
        cells = []
        for column, value in zip(table.columns, row, strict=True):
            if value is None:
                cells.append(("–", True))
            elif column in table.percent:
                cells.append((f"{value:.1%}", True))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                cells.append((str(value), False))
            elif isinstance(value, float):
                cells.append((f"{value:,.1f}", True))
            else:
                cells.append((f"{value:,}", True))
        shown.append(cells)
    return shown


def chart(table: Table, period: Period) -> Markup:
    """The chart that says a table at a glance (empty when its numbers say it better)."""
    rows, label = table.rows, table.title
    if not rows:
        return Markup("")
    if table.name == "funnel":
        return hbars([(r[0], r[1], f"{r[1]:,}") for r in rows], label=label)
    if table.name == "channel":
        return hbars([(r[0], r[1], f"{r[1]:,}") for r in rows], label=label)
    if table.name in ("rates", "containment"):
        shares = [(r[0], r[-1], f"{r[-1]:.1%}") for r in rows if r[-1] is not None]
        return hbars(shares, label=label, top=1.0, colour=PALETTE[1]) if shares else Markup("")
    if table.name == "cure":
        return hbars(
            [(r[0], r[3] or 0.0, _pct(r[3])) for r in rows],
            label=label,
            top=1.0,
            colour=PALETTE[1],
        )
    if table.name == "liquidation":
        return hbars(
            [(r[0], r[4] or 0.0, _pct(r[4])) for r in rows],
            label=label,
            top=1.0,
            colour=PALETTE[1],
        )
    if table.name == "roll_rates":
        names = table.columns[1:-1]
        return heatmap([r[0] for r in rows], names, [r[1:-1] for r in rows], label=label)
    if table.name == "recovered":
        return Markup("").join(_per_currency(rows, period))
    if table.name == "tickets_opened":
        days = period.days
        index = {d.isoformat(): i for i, d in enumerate(days)}
        series = {reason: [0.0] * len(days) for reason in table.columns[1:-1]}
        for row in rows:
            for reason, n in zip(table.columns[1:-1], row[1:-1], strict=True):
                series[reason][index[row[0]]] = n
        return columns(days, series, label=label)
    if table.name == "outcomes":
        return hbars([(r[0], r[1], f"{r[1]:,}") for r in rows], label=label)
    return Markup("")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _per_currency(rows: list[list[Any]], period: Period) -> list[Markup]:
    """A chart per currency: amounts of two currencies are never drawn on one axis."""
    days = period.days
    index = {d.isoformat(): i for i, d in enumerate(days)}
    charts = []
    for currency in sorted({r[1] for r in rows}):
        amounts, shown = [0.0] * len(days), ["–"] * len(days)
        for day, cur, minor, formatted in rows:
            if cur == currency:
                amounts[index[day]], shown[index[day]] = float(from_minor(minor, cur)), formatted
        head = Markup('<h4 class="chart-title">{}</h4>').format(currency)
        charts.append(
            head
            + columns(
                days,
                {currency: amounts},
                label=f"Recovered per day in {currency}",
                shown={currency: shown},
            )
        )
    return charts
