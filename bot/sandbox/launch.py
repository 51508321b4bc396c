"""``nudgebot sandbox``: the local Bot API server, the bot and the web server, with sample debtors.

This module is the only part of ``bot.sandbox`` that knows the rest of nudgebot: the server
itself stays a plain imitation of Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from bot.accounts.importer import import_accounts
from bot.app import PortInUse, Running, running
from bot.db import migrate
from bot.db.base import utcnow
from bot.db.engine import create_engine, is_sqlite, session_factory
from bot.db.models import Debtor, DebtorPhone
from bot.handoff import canned
from bot.i18n import supported_locale
from bot.linking.tokens import issue_links
from bot.sandbox.botapi import BotApiServer
from bot.settings import Settings
from bot.staff.accounts import create_staff

log = logging.getLogger(__name__)
SANDBOX_TOKEN = "100000:sandbox-token-not-a-secret"
SANDBOX_BOT = "nudgebot_sandbox_bot"
# The sample creditor the sandbox speaks for, unless NUDGEBOT_CREDITOR_NAME names one.
SANDBOX_CREDITOR = "Acme Lending"
SAMPLE_PORTFOLIO = Path(__file__).with_name("sample_portfolio.csv")
FIRST_USER_ID = 10_001
# Sample debtors already waiting for an agent when the sandbox starts (by persona index), and
# what they write once verified; the first three are left for the newcomer to play from the start.
# The console's demo staff: (username, password, role, name). Only for the offline sandbox.
DEMO_STAFF = (
    ("agent", "agent-sandbox", "agent", "Demo Agent"),
    ("admin", "admin-sandbox", "admin", "Demo Admin"),
)
# Canned replies agents can try: (locale, title, body).
DEMO_CANNED = (
    (
        "en",
        "Payment link",
        "Hello {{ first_name }}, you can pay the {{ owed }} here: {{ payment_link }}",
    ),
    (
        "en",
        "Call back",
        "Thank you, {{ first_name }}. We will look into this and write to you again today.",
    ),
    ("zh_CN", "付款链接", "{{ full_name }}您好，您可以在这里支付 {{ owed }}：{{ payment_link }}"),
)
WAITING = ((3, "我想找人工客服谈谈还款"), (4, "Can I talk to a person? I lost my job last month."))


def remove_sqlite_file(database_url: str) -> None:
    """Start the sandbox from nothing each time: delete its SQLite file."""
    if is_sqlite(database_url) and "///" in database_url:
        path = database_url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


async def prepare(database_url: str) -> list[dict[str, Any]]:
    """Load the sample portfolio into an empty database; return one persona per debtor."""
    engine = create_engine(database_url)
    try:
        await migrate.ensure_schema(engine, database_url)
        sessions = session_factory(engine)
        report = await import_accounts(sessions, SAMPLE_PORTFOLIO, region="US", clock=utcnow)
        assert not report.errors, report.errors
        async with sessions.begin() as s:
            for username, password, role, name in DEMO_STAFF:
                staff = await create_staff(
                    s, username, password, role, now=utcnow(), actor="sandbox", display_name=name
                )
            for locale, title, body in DEMO_CANNED:
                await canned.save(
                    s, title=title, locale=locale, body=body, staff_id=staff.id, now=utcnow()
                )
            issued, _ = await issue_links(s, now=utcnow(), ttl=timedelta(days=30), rotate=True)
            tokens = {link.debtor_ref: link.token for link in issued}
            debtors = (await s.execute(select(Debtor).order_by(Debtor.id))).scalars().all()
            personas = []
            for index, debtor in enumerate(debtors):
                phone = (
                    (
                        await s.execute(
                            select(DebtorPhone.phone_e164).where(
                                DebtorPhone.debtor_id == debtor.id
                            )
                        )
                    )
                    .scalars()
                    .first()
                )
                language = supported_locale(debtor.locale).replace("_", "-").lower()
                personas.append(
                    {
                        "name": debtor.full_name,
                        "debtor_ref": debtor.debtor_ref,
                        "phone": phone,
                        "start": tokens.get(debtor.debtor_ref, ""),
                        "user": {
                            "id": FIRST_USER_ID + index,
                            "first_name": debtor.full_name.split()[0],
                            "language_code": "zh-hans" if language.startswith("zh") else "en",
                        },
                    }
                )
    finally:
        await engine.dispose()
    return personas


@asynccontextmanager
async def sandbox_running(
    settings: Settings, *, host: str = "127.0.0.1", api_port: int = 0
) -> AsyncIterator[tuple[BotApiServer, Running, list[dict[str, Any]]]]:
    """Start the local Telegram, load the sample debtors, and run the bot against them."""
    personas = await prepare(settings.database_url)
    server = BotApiServer()
    server.add_bot(SANDBOX_TOKEN, username=SANDBOX_BOT, first_name=settings.creditor_name)
    server.personas = personas
    try:
        root = await server.start(host=host, port=api_port)
    except OSError as exc:
        why = os.strerror(exc.errno or 0).lower()
        raise PortInUse(
            f"cannot listen on {host}:{api_port} for the local Telegram ({why});"
            " use --port with a free port"
        ) from None
    bot_settings = settings.model_copy(
        update={
            "bot_token": SecretStr(SANDBOX_TOKEN),
            "telegram_api_url": root,
            "webhook_url": None,
        }
    )
    try:
        async with running(bot_settings, clock=utcnow) as process:
            waiting = asyncio.create_task(_waiting_debtors(server, personas))
            try:
                yield server, process, personas
            finally:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
    finally:
        await server.stop()


async def _waiting_debtors(server: BotApiServer, personas: list[dict[str, Any]]) -> None:
    """Some sample debtors open the bot, prove who they are and ask for a person, through the
    local Telegram as anyone would: their tickets wait in the agent console's queue."""

    async def one(persona: dict[str, Any], text: str) -> None:
        user = persona["user"]
        server.send_text(SANDBOX_BOT, user, f"/start {persona['start']}")
        await server.wait_for_bot_messages(SANDBOX_BOT, user["id"], 1, within=30)
        server.share_contact(SANDBOX_BOT, user, persona["phone"])
        await server.wait_for_bot_messages(SANDBOX_BOT, user["id"], 3, within=30)
        server.send_text(SANDBOX_BOT, user, text)
        await server.wait_for_bot_messages(SANDBOX_BOT, user["id"], 4, within=30)

    try:
        await asyncio.gather(*(one(personas[i], text) for i, text in WAITING if i < len(personas)))
    except (TimeoutError, LookupError):
        log.warning("the sample conversations for the agent queue did not all start")


async def serve_sandbox(settings: Settings, api_port: int) -> None:
    """Run the sandbox until Ctrl+C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sandbox_running(settings, api_port=api_port) as (server, process, personas):
        print(
            f"nudgebot sandbox is running with {len(personas)} sample debtors.\n"
            f"  Chat with the bot as a debtor: {server.base_url}/sandbox/chat\n"
            f"  Answer as an agent:            {process.web_url}/console/\n"
            f"      {_credentials()}\n"
            f"  Local Bot API (Telegram):      {server.base_url}/bot<token>/<method>\n"
            f"  nudgebot web server:           {process.web_url}\n"
            "  Send the reminders due at a moment of your choosing, from another terminal:\n"
            f"      {_remind_command(settings, server.base_url)}\n"
            "Ctrl+C stops.",
            flush=True,
        )
        await stop.wait()


def _remind_command(settings: Settings, api_url: str) -> str:
    """``nudgebot remind --at`` against this sandbox: its database, token and Bot API."""
    at = (utcnow() + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    variables = {
        "NUDGEBOT_DATABASE_URL": settings.database_url,
        "NUDGEBOT_BOT_TOKEN": SANDBOX_TOKEN,
        "NUDGEBOT_TELEGRAM_API_URL": api_url,
        "NUDGEBOT_CREDITOR_NAME": settings.creditor_name,
    }
    assigned = " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())
    return f"{assigned} nudgebot remind --at {at.isoformat()}"


def _credentials() -> str:
    return "; ".join(f"{role}: {user} / {password}" for user, password, role, _ in DEMO_STAFF)
