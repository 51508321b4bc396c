"""aiohttp application factory for one nudgebot process."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application

from bot.channels.telegram.handlers import read_update
from bot.db.base import utcnow
from bot.policy import load_policy
from bot.settings import Settings
from bot.web.api import add_api_routes

log = logging.getLogger(__name__)
TELEGRAM_APP = web.AppKey("telegram_application", Application)
WEBHOOK_SECRET = web.AppKey("webhook_secret", str)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def health(request: web.Request) -> web.Response:
    """Liveness for load balancers and docker."""
    return web.json_response({"ok": True})


async def telegram_webhook(request: web.Request) -> web.Response:
    """Accept an update from Telegram only with the right secret token, and handle it."""
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[WEBHOOK_SECRET].encode()):
        log.warning("webhook request with a missing or wrong secret token refused")
        return web.json_response({"ok": False, "error": "forbidden"}, status=403)
    try:
        payload = await request.json()
    except ValueError:
        return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
    application = request.app[TELEGRAM_APP]
    update = read_update(payload, application.bot)
    if update is None:
        # Not readable, and taken all the same: Telegram must not hold the chat's queue on it.
        return web.json_response({"ok": True})
    # Answered once handled, not once queued: a process that dies while handling gives no
    # answer, so Telegram delivers the update again (to this or another process), and its
    # queue per chat holds the next message of that chat until then. A delivery the bot has
    # on record already is recognised and not answered twice (see handlers._turn).
    await application.process_update(update)
    return web.json_response({"ok": True})


def webhook_path(settings: Settings) -> str:
    """The local path Telegram posts to: the path of WEBHOOK_URL."""
    return urlsplit(settings.webhook_url or "").path or "/telegram/webhook"


def make_web_app(
    settings: Settings,
    telegram: Application | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The web application: the webhook route in webhook mode, the JSON API given a database."""
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", health)
    if sessions is not None:
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        add_api_routes(app, sessions, api_key, load_policy(settings.policy_file), clock)
    if telegram is not None and settings.webhook_url:
        settings.require("webhook_secret")
        app[TELEGRAM_APP] = telegram
        app[WEBHOOK_SECRET] = settings.webhook_secret.get_secret_value()
        app.router.add_post(webhook_path(settings), telegram_webhook)
    return app
