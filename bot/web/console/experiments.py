"""Template experiments in the console (admins): the panel on a stage message's editor that
starts one, and the page that compares the arms and stops them."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ExperimentStatus, StaffUser, TemplateExperiment, TemplateVersion
from bot.i18n import SUPPORTED_LOCALES
from bot.policy import Policy
from bot.results.experiments import METRICS, experiment_figures
from bot.services import experiments as service
from bot.templates import experiments, versions
from bot.templates.catalog import MESSAGES
from bot.templates.store import forget_cached_templates
from bot.web.console import console_of
from bot.web.console.auth import error_page, require_role, signed
from bot.web.console.svg import whiskers

PAGE = "/console/experiments"
SHOWN = 50  # experiments on the page, running ones first, then the latest stopped
METRIC_NAMES = {"replied": "Replied", "promised": "Promised or agreed a plan", "paid": "Paid"}


def add_routes(app: web.Application) -> None:
    """The experiments' routes on the console sub-application."""
    app.router.add_get("/experiments", page)
    app.router.add_post("/experiments", start)
    app.router.add_post("/experiments/{id:\\d{1,18}}/stop", stop)


def _label(row: TemplateVersion) -> str:
    state = "was live" if row.published_at is not None else "draft"
    comment = f" · {row.comment}" if row.comment else ""
    return f"Version {row.version} ({state}){comment}"[:120]


async def panel(
    s: AsyncSession,
    policy: Policy,
    key: str,
    locale: str,
    live: versions.Live | None,
    history: list[TemplateVersion],
    *,
    error: str | None = None,
    started: bool = False,
) -> dict[str, Any] | None:
    """What the editor's experiment panel shows; None for a message that cannot have one."""
    if key not in service.stage_keys(policy) or live is None:
        return None
    choices = [(r.version, _label(r)) for r in history if r.version != live.version]
    if live.version != 0 and versions.live_of([], key, locale) is not None:
        choices.append((0, "Version 0 (the shipped text)"))
    return {
        "running": await experiments.running_row(s, key, locale),
        "control": live.version,
        "choices": choices,
        "error": error,
        "started": started,
    }


async def _names(s: AsyncSession) -> dict[int, str]:
    rows = await s.execute(select(StaffUser.id, StaffUser.display_name))
    return {staff_id: name for staff_id, name in rows.all()}


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _points(value: float) -> str:
    shown = f"{abs(value) * 100:.1f}"
    return "±0.0" if shown == "0.0" else f"{'+' if value > 0 else '−'}{shown}"


def _verdict(difference: Any) -> tuple[str, str]:
    if difference is None:
        return "No figures yet", "none"
    if not difference.significant:
        return "Not yet significant", "unsure"
    if difference.value > 0:
        return "Challenger better", "better"
    return "Challenger worse", "worse"


def _view(row: TemplateExperiment, figures: Any, names: dict[int, str]) -> dict[str, Any]:
    """One experiment as the page shows it: its arms, differences and charts."""
    arms = []
    for arm in (figures.control, figures.challenger):
        cells = []
        for metric in METRICS:
            p = arm.rates[metric]
            interval = "" if p.rate is None else f"{_percent(p.low)} – {_percent(p.high)}"
            cells.append({"rate": _percent(p.rate), "interval": interval, "hits": p.hits})
        arms.append({"arm": arm, "cells": cells})
    differences = []
    for metric in METRICS:
        d = figures.differences[metric]
        verdict, tone = _verdict(d)
        differences.append(
            {
                "value": "" if d is None else f"{_points(d.value)} pts",
                "interval": "" if d is None else f"{_points(d.low)} to {_points(d.high)}",
                "verdict": verdict,
                "tone": tone,
            }
        )
    charts = [
        {
            "metric": metric,
            "title": METRIC_NAMES[metric],
            "svg": whiskers(
                figures.control.rates[metric],
                figures.challenger.rates[metric],
                label=METRIC_NAMES[metric],
            ),
        }
        for metric in METRICS
    ]
    return {
        "row": row,
        "running": row.status == ExperimentStatus.RUNNING,
        "arms": arms,
        "differences": differences,
        "charts": charts,
        "started_by": names.get(row.started_by or 0, "someone"),
        "stopped_by": names.get(row.stopped_by or 0, "someone"),
        "waiting": sum(a.exposed - a.measured for a in (figures.control, figures.challenger)),
    }


async def _render_page(
    request: web.Request, *, flash: str | None = None, error: str | None = None, status: int = 200
) -> web.Response:
    console = console_of(request)
    running_first = case((TemplateExperiment.status == ExperimentStatus.RUNNING, 0), else_=1)
    async with console.sessions() as s:
        rows = list(
            await s.scalars(
                select(TemplateExperiment)
                .order_by(running_first, TemplateExperiment.started_at.desc())
                .limit(SHOWN)
            )
        )
        figures = await experiment_figures(s, rows, as_of=console.clock())
        names = await _names(s)
    context = {
        "nav": "templates",
        "experiments": [_view(r, figures[r.id], names) for r in rows],
        "metrics": [METRIC_NAMES[m] for m in METRICS],
        "flash": flash,
        "error": error,
    }
    return aiohttp_jinja2.render_template("experiments.html", request, context, status=status)


@require_role("admin")
async def page(request: web.Request) -> web.Response:
    """Every running experiment and the latest stopped ones, each arm against the other."""
    flash = None
    stopped = request.query.get("stopped", "")
    if stopped.isdigit():
        flash = f"Experiment #{stopped} is stopped; the version kept is in use for everyone."
    return await _render_page(request, flash=flash)


@require_role("admin")
async def start(request: web.Request) -> web.StreamResponse:
    """Start an experiment on a stage message from its editor."""
    console, staff = console_of(request), signed(request)
    form = await request.post()
    key, locale = str(form.get("key", "")), str(form.get("locale", ""))
    if key not in MESSAGES or locale not in SUPPORTED_LOCALES:
        return await error_page(request, 400, "No such message", "That message does not exist.")
    if key not in service.stage_keys(console.policy):
        return await error_page(request, 400, "Not a stage message", service.ONLY_STAGES)
    from bot.web.console.messages import with_experiment_error

    challenger, percent = str(form.get("challenger", "")), str(form.get("percent", ""))
    if not challenger.isdigit() or not percent.isdigit():
        problem = "Choose the challenger version and its share, a whole percent from 1 to 99."
        return await with_experiment_error(request, key, locale, problem)
    try:
        async with console.sessions.begin() as s:
            await service.start(
                s, key, locale, challenger=int(challenger), percent=int(percent),
                note=str(form.get("note", "")), policy=console.policy, staff_id=staff.id,
                now=console.clock(),
            )  # fmt: skip
    except service.ExperimentError as exc:
        return await with_experiment_error(request, key, locale, str(exc))
    forget_cached_templates()
    raise web.HTTPSeeOther(f"/console/templates/{key}/{locale}?experiment=started")


@require_role("admin")
async def stop(request: web.Request) -> web.StreamResponse:
    """Stop an experiment, keeping the version the admin chose."""
    console, staff = console_of(request), signed(request)
    experiment_id = int(request.match_info["id"])
    keep = str((await request.post()).get("keep", ""))
    try:
        async with console.sessions.begin() as s:
            await service.stop(s, experiment_id, keep, staff_id=staff.id, now=console.clock())
    except service.ExperimentError as exc:
        return await _render_page(request, error=str(exc), status=409)
    forget_cached_templates()
    raise web.HTTPSeeOther(f"{PAGE}?stopped={experiment_id}")
