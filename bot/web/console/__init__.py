"""The agent and admin console: server-rendered pages under ``/console``, live over a WebSocket.

``make_console_app`` builds it as an aiohttp sub-application, so its sign-in and CSRF middleware
guard every console request and nothing else (the webhook and the JSON API have their own
checks). Pages are Jinja2 templates in ``bot/web/templates/console`` (autoescaped: debtor text is
always shown as text); styles and scripts are in ``bot/web/static``, served from here, never from
a CDN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Sender
from bot.db.models import ConsoleEvent
from bot.policy import Policy
from bot.settings import Settings
from bot.web.console import words
from bot.web.console.live import Feed

STATIC_DIR = Path(__file__).parent.parent / "static"
TEMPLATES_DIR = Path(__file__).parent.parent / "templates"


@dataclass
class Console:
    """What every console handler needs, shared by the sub-application."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    policy: Policy
    clock: Callable[[], datetime]
    # Agents' replies go out through the channel the debtor wrote on.
    senders: Mapping[str, Sender]
    # The process's reader of console events, made with the sub-application.
    feed: Feed = field(init=False)


CONSOLE = web.AppKey("console", Console)


def console_of(request: web.Request) -> Console:
    """The console's shared parts, from any of its requests."""
    return request.config_dict[CONSOLE]


def typed(form: Mapping[str, object], name: str) -> str:
    """A form field as the person typed it. Browsers send a textarea's line breaks as CRLF; what
    is checked, stored and sent has LF only, so positions found in it are positions in the
    editor too."""
    return str(form.get(name, "")).replace("\r\n", "\n")


def make_console_app(console: Console) -> web.Application:
    """The console sub-application, mounted at ``/console`` by ``make_web_app``."""
    from bot.web.console import (
        actions,
        auth,
        canned,
        conversation,
        debtor,
        experiments,
        messages,
        policy,
        queue,
        results,
        team,
    )

    console.feed = Feed(console.sessions)
    app = web.Application(middlewares=[auth.middleware])
    app[CONSOLE] = console
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "console"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        context_processors=[auth.page_context, _live_context],
    )
    env.filters.update(words.FILTERS)
    app.router.add_static("/static/", STATIC_DIR, name="static")
    auth.add_routes(app)
    queue.add_routes(app)
    conversation.add_routes(app)
    canned.add_routes(app)
    messages.add_routes(app)
    team.add_routes(app)
    policy.add_routes(app)
    actions.add_routes(app)
    debtor.add_routes(app)
    experiments.add_routes(app)
    results.add_routes(app)
    app.on_cleanup.append(_stop_feed)
    return app


async def _live_context(request: web.Request) -> dict[str, object]:
    """Where a page's live connection starts: the newest event when it was rendered."""
    from bot.web.console.auth import STAFF

    if request.get(STAFF) is None:
        return {"live_after": 0}
    async with console_of(request).sessions() as s:
        newest = await s.scalar(select(func.coalesce(func.max(ConsoleEvent.id), 0)))
    return {"live_after": newest or 0}


async def _stop_feed(app: web.Application) -> None:
    await app[CONSOLE].feed.stop()
