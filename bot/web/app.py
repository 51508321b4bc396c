"""aiohttp application factory for one nudgebot process."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Sender
from bot.db.base import utcnow
from bot.metrics import CONTENT_TYPE, Metrics
from bot.policy import load_policy
from bot.settings import Settings
from bot.web.api import add_api_routes
from bot.web.console import Console, make_console_app

log = logging.getLogger(__name__)

SESSIONS = web.AppKey("sessions", async_sessionmaker)
METRICS = web.AppKey("metrics", Metrics)
CLOCK = web.AppKey("clock", object)
METRICS_TOKEN = web.AppKey("metrics_token", str)
DB_TIMEOUT = 3.0


async def live(request: web.Request) -> web.Response:
    """The process answers: for a supervisor deciding whether to restart it."""
    return web.json_response({"ok": True})


async def health(request: web.Request) -> web.Response:
    """The process answers and its database does: for a load balancer deciding whether to
    send it work (503 while the database is away)."""
    sessions = request.app.get(SESSIONS)
    if sessions is None:
        return web.json_response({"ok": True})
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            async with sessions() as s:
                await s.execute(text("SELECT 1"))
    except Exception as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return web.json_response({"ok": False, "database": why}, status=503)
    return web.json_response({"ok": True, "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus's text format; with NUDGEBOT_METRICS_TOKEN set, only for that bearer."""
    token = request.app.get(METRICS_TOKEN)
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        return web.Response(status=401, text="a bearer token is needed\n")
    registry = request.app[METRICS]
    sessions = request.app.get(SESSIONS)
    if sessions is not None:
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                await registry.refresh(sessions, request.app[CLOCK]())
        except Exception as exc:  # the counters are still worth having
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
    return web.Response(body=registry.render(), headers={"Content-Type": CONTENT_TYPE})


def make_web_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    senders: Mapping[str, Sender] | None = None,
    metrics_of: Metrics | None = None,
) -> web.Application:
    """The web application: health, and given a database the JSON API and the console at
    ``/console`` (adapters add their routes, like Telegram's webhook, to it); ``senders`` are
    the channels agents' replies go out on, by name."""
    app = web.Application(client_max_size=1024 * 1024)
    app[METRICS] = metrics_of or Metrics()
    app[CLOCK] = clock
    if settings.metrics_token is not None:
        app[METRICS_TOKEN] = settings.metrics_token.get_secret_value()
    app.router.add_get("/livez", live)
    app.router.add_get("/healthz", health)
    app.router.add_get("/metrics", metrics)
    if sessions is not None:
        app[SESSIONS] = sessions
        policy = load_policy(settings.policy_file)
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        add_api_routes(app, sessions, api_key, policy, clock)
        console = Console(
            sessions=sessions, settings=settings, policy=policy, clock=clock,
            senders=dict(senders or {}),
        )  # fmt: skip
        app.add_subapp("/console", make_console_app(console))
    return app
