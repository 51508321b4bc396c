"""Wiring of one nudgebot process: database, Telegram application, web server, shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import Application

from bot.channels.telegram.application import build_application
from bot.channels.telegram.commands import publish_commands
from bot.channels.telegram.polling import Poller
from bot.channels.telegram.ratelimit import ChatRateLimiter, limiter_for
from bot.channels.telegram.reach import check_bot_api, wait_for_bot_api
from bot.channels.telegram.webhook import add_webhook_route
from bot.conversation.replies import ReplySweeper
from bot.db import migrate
from bot.db.base import utcnow
from bot.db.engine import create_engine, session_factory
from bot.db.workers import WorkerLease
from bot.metrics import Metrics
from bot.policy import Policy, load_policy
from bot.reminders.dispatcher import Dispatcher
from bot.scheduler import Ticker
from bot.settings import Settings
from bot.web.app import make_web_app

log = logging.getLogger(__name__)
POLL_TIMEOUT = 10


@dataclass
class Running:
    """A started process: what tests and the sandbox may look at."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    telegram: Application
    web_url: str
    replies: ReplySweeper


class PortInUse(Exception):
    """The web server's address is taken; the message says which and what to set."""


class StoppedWaiting(Exception):
    """Asked to stop while still waiting for the Bot API to answer."""


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    rate_limiter: ChatRateLimiter | None = None,
    reminders: bool = True,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[Running]:
    """Start everything; on exit stop intake first, let in-flight updates finish, then close.
    The Bot API must answer first: once (BotApiUnreachable), or, given ``stop``, with a try
    again after every failure until it does or ``stop`` is set (StoppedWaiting)."""
    settings.require("bot_token")
    policy = load_policy(settings.policy_file)
    webhook = bool(settings.webhook_url)
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        sessions = session_factory(engine)
        limiter = rate_limiter or limiter_for(
            engine, policy.dispatch.global_per_second, policy.dispatch.per_chat_per_second
        )
        lease = WorkerLease(sessions, lease_seconds=policy.dispatch.lease_seconds)
        metrics = Metrics()
        limiter.on_retry_after = metrics.too_many_requests.inc
        telegram = build_application(
            settings, sessions, clock=clock, rate_limiter=limiter, policy=policy, lease=lease,
            metrics=metrics,
        )  # fmt: skip
        # Listen before talking to Telegram, so a taken port fails fast with nothing to undo.
        # A webhook update is answered once handled: a handler must run to its end even if
        # Telegram hangs up, and a graceful stop waits for the handlers in flight.
        web_app = make_web_app(
            settings, sessions, clock=clock,
            senders={"telegram": telegram.bot_data["services"].sender}, metrics_of=metrics,
        )  # fmt: skip
        if webhook:
            add_webhook_route(web_app, settings, telegram)
        runner = web.AppRunner(
            web_app,
            handle_signals=False,
            handler_cancellation=False,
            shutdown_timeout=60.0,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.web_host, settings.web_port).start()
        except OSError as exc:
            await runner.cleanup()
            why = os.strerror(exc.errno or 0).lower()
            raise PortInUse(
                f"cannot listen on {settings.web_host}:{settings.web_port} ({why});"
                " set NUDGEBOT_WEB_PORT to a free port"
            ) from None
        web_url = f"http://{settings.web_host}:{runner.addresses[0][1]}"
        try:
            if stop is None:
                await check_bot_api(telegram.bot, settings)
            elif not await wait_for_bot_api(telegram.bot, settings, stop):
                raise StoppedWaiting
        except BaseException:
            await runner.cleanup()
            raise
        async with telegram:
            await telegram.start()
            await lease.start()
            ticker, poller = None, None
            # Replies a stopped process left unsent (this one, before a restart, or another).
            sweeper = ReplySweeper(sessions, telegram.bot_data["services"].sender, clock)
            sweeper.start()
            try:
                if webhook:
                    await telegram.bot.set_webhook(
                        settings.webhook_url,
                        secret_token=settings.webhook_secret.get_secret_value(),
                        allowed_updates=Update.ALL_TYPES,
                    )
                else:
                    await telegram.bot.delete_webhook()
                    poller = Poller(telegram, timeout=POLL_TIMEOUT)
                    poller.start()
                # Updates are already being handled; a failure here is logged and ignored.
                await publish_commands(telegram.bot)
                if reminders:
                    dispatcher = make_dispatcher(settings, sessions, telegram, policy)
                    ticker = Ticker(sessions, dispatcher, policy, clock)
                    ticker.start()
                log.info("nudgebot is running (%s)", "webhook" if webhook else "long polling")
                yield Running(engine, sessions, telegram, web_url, sweeper)
            finally:
                await sweeper.stop()
                if ticker is not None:
                    await ticker.stop()
                if poller is not None:
                    await poller.stop()
                await runner.cleanup()
                await telegram.stop()
                await lease.stop()
    finally:
        await engine.dispose()


def make_dispatcher(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    telegram: Application,
    policy: Policy,
) -> Dispatcher:
    """A dispatcher sending through this process's bot (one rate limiter for everything)."""
    return Dispatcher(
        sessions,
        telegram.bot_data["services"].sender,
        policy,
        creditor=settings.creditor_name,
        payment_url_template=settings.payment_url_template,
    )


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running(settings, stop=stop) as process:
            print(
                f"nudgebot is running; web server on {process.web_url} (Ctrl+C stops)",
                flush=True,
            )
            await stop.wait()
            print("nudgebot: stopping, finishing work in progress…", flush=True)
    except StoppedWaiting:
        print("nudgebot: stopped before Telegram answered", flush=True)
