"""The route Telegram posts updates to in webhook mode, served by the process's web server."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram.ext import Application

from bot.channels.telegram.handlers import read_update
from bot.settings import Settings

log = logging.getLogger(__name__)
TELEGRAM_APP = web.AppKey("telegram_application", Application)
WEBHOOK_SECRET = web.AppKey("webhook_secret", str)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


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
    # on record already is recognised and not answered twice (bot/conversation/pipeline.py).
    await application.process_update(update)
    return web.json_response({"ok": True})


def webhook_path(settings: Settings) -> str:
    """The local path Telegram posts to: the path of WEBHOOK_URL."""
    return urlsplit(settings.webhook_url or "").path or "/telegram/webhook"


def add_webhook_route(app: web.Application, settings: Settings, telegram: Application) -> None:
    """Serve Telegram's webhook from ``app`` (webhook mode needs the secret token)."""
    settings.require("webhook_secret")
    app[TELEGRAM_APP] = telegram
    app[WEBHOOK_SECRET] = settings.webhook_secret.get_secret_value()
    app.router.add_post(webhook_path(settings), telegram_webhook)
