"""aiohttp application factory for one nudgebot process."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Sender
from bot.db.base import utcnow
from bot.policy import load_policy
from bot.settings import Settings
from bot.web.api import add_api_routes
from bot.web.console import Console, make_console_app


async def health(request: web.Request) -> web.Response:
    """Liveness for load balancers and docker."""
    return web.json_response({"ok": True})


def make_web_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    senders: Mapping[str, Sender] | None = None,
) -> web.Application:
    """The web application: health, and given a database the JSON API and the console at
    ``/console`` (adapters add their routes, like Telegram's webhook, to it); ``senders`` are
    the channels agents' replies go out on, by name."""
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", health)
    if sessions is not None:
        policy = load_policy(settings.policy_file)
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        add_api_routes(app, sessions, api_key, policy, clock)
        console = Console(
            sessions=sessions, settings=settings, policy=policy, clock=clock,
            senders=dict(senders or {}),
        )  # fmt: skip
        app.add_subapp("/console", make_console_app(console))
    return app
