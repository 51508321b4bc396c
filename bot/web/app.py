"""aiohttp application factory for one nudgebot process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.base import utcnow
from bot.policy import load_policy
from bot.settings import Settings
from bot.web.api import add_api_routes


async def health(request: web.Request) -> web.Response:
    """Liveness for load balancers and docker."""
    return web.json_response({"ok": True})


def make_web_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The web application: health, and the JSON API given a database (adapters add their
    routes, like Telegram's webhook, to it)."""
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", health)
    if sessions is not None:
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        add_api_routes(app, sessions, api_key, load_policy(settings.policy_file), clock)
    return app
