"""Three bot processes in webhook mode behind a balancer that hands updates out in turn, on
one PostgreSQL: debtors verify and promise to pay at the same time, each update is handled
once whichever process gets it, each chat's replies come in order, and the bot as a whole
keeps to Telegram's limits (the sandbox answers 429 past 30/s overall or 1/s in a chat).

``TRIO_DEBTORS`` sets how many debtors (30 in the suite; the issue's 200 run the
same way)."""

from __future__ import annotations

import asyncio
import html
import os
import re
import time
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.accounts.importer import import_accounts
from bot.app import running
from bot.db.base import utcnow
from bot.db.engine import is_sqlite
from bot.db.models import ContactLog, Promise
from bot.linking.tokens import issue_links
from bot.sandbox import BotApiServer
from tests.helpers import ACCOUNT_HEADER, write_csv
from tests.telegram.conftest import BOT, bot_settings
from tests.telegram.test_two_processes import SECRET, Balancer, balancer  # noqa: F401

_URL = os.environ.get("NUDGEBOT_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.skipif(
        not _URL or is_sqlite(_URL),
        reason="several processes sharing one database is a PostgreSQL property (row locks)",
    ),
    pytest.mark.timeout(600),
]
DEBTORS = int(os.environ.get("TRIO_DEBTORS", "30"))
PROCESSES = 3
ZONE = "America/New_York"


def _user(n: int) -> dict:
    return {"id": 880_000 + n, "first_name": f"Debtor{n}", "language_code": "en"}


async def _seed(sessions, tmp_path) -> dict[int, str]:
    rows = "".join(
        f"ACC-{n:05},D-{n:05},Debtor {n},+1 212 20{n // 10000} {n % 10000:04},en,{ZONE},USD,"
        f"{100 + n}.00,2026-11-20,,\n"
        for n in range(DEBTORS)
    )
    report = await import_accounts(
        sessions, write_csv(tmp_path / "book.csv", ACCOUNT_HEADER + rows), "US", clock=utcnow
    )
    assert report.errors == []
    async with sessions.begin() as s:
        issued, _ = await issue_links(s, now=utcnow(), ttl=timedelta(days=30), rotate=False)
    return {int(link.debtor_ref[2:]): link.token for link in issued}


class Debtor:
    """One person going through the flow at their own pace, reading each answer first."""

    def __init__(self, sandbox: BotApiServer, n: int, token: str) -> None:
        self.sandbox, self.n, self.token, self.user = sandbox, n, token, _user(n)

    def texts(self) -> list[str]:
        return [m["text"] for m in self.sandbox.bot_messages(BOT, self.user["id"])]

    async def wait(self, count: int) -> list[str]:
        found = await self.sandbox.wait_for_bot_messages(BOT, self.user["id"], count, within=120)
        return [m["text"] for m in found]

    async def say(self, text: str, expect: int) -> list[str]:
        self.sandbox.send_text(BOT, self.user, text)
        return await self.wait(expect)

    async def press(self, label: str, expect: int) -> list[str]:
        for message in reversed(self.sandbox.bot_messages(BOT, self.user["id"])):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label and "callback_data" in button:
                        self.sandbox.press_button(
                            BOT, self.user, message["message"]["message_id"],
                            button["callback_data"],
                        )  # fmt: skip
                        return await self.wait(expect)
        raise AssertionError(f"debtor {self.n}: no button {label!r} in {self.texts()}")

    async def promise(self) -> None:
        texts = await self.say(f"/start {self.token}", expect=1)
        assert texts[0].startswith("Hello, and welcome."), texts
        texts = await self.say(f"{self.n:05}"[-4:], expect=3)
        assert texts[1].startswith("Thank you, Debtor. You are confirmed"), texts
        texts = await self.press("Promise to pay", expect=4)
        assert texts[-1].startswith("When can you pay?"), texts
        target = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date() + timedelta(days=5)
        texts = await self.say(f"{target:%B} {target.day}", expect=5)
        assert texts[-1].startswith("How much will you pay by "), texts
        texts = await self.say(f"${100 + self.n}", expect=6)
        texts = await self.press("Confirm", expect=7)
        assert "promise" in texts[-1].lower(), texts


async def test_three_webhook_processes_take_debtors_through_promises_once_and_in_order(
    sandbox: BotApiServer,
    balancer: Balancer,  # noqa: F811
    sessions,
    database_url,
    tmp_path,
):
    tokens = await _seed(sessions, tmp_path)
    settings = bot_settings(
        database_url, sandbox, web_port=0, webhook_url=balancer.url, webhook_secret=SECRET
    )
    async with AsyncExitStack() as stack:
        for _ in range(PROCESSES):
            process = await stack.enter_async_context(
                running(settings, reminders=False)  # the shared limiter, as `nudgebot run`
            )
            balancer.backends.append(process.web_url + "/telegram/webhook")
        started = time.monotonic()
        await asyncio.gather(*(Debtor(sandbox, n, tokens[n]).promise() for n in range(DEBTORS)))
        elapsed = time.monotonic() - started
        await _until(lambda: balancer.busy == 0 and not sandbox.bot(BOT).updates)

    state = sandbox.bot(BOT)
    every = list(range(1, state.next_update_id))
    handled_by = Counter(index for _, index in balancer.delivered)
    # Each update answered once (none lost, none refused), and every process took its share.
    assert sorted(u for u, _ in balancer.delivered) == every
    assert balancer.refused == [] and balancer.lost == []
    assert sorted(handled_by) == list(range(PROCESSES))
    async with sessions() as s:
        logged = (
            await s.execute(select(func.count()).where(ContactLog.direction == "in"))
        ).scalar_one()
        kept = (await s.execute(select(func.count()).select_from(Promise))).scalar_one()
        out = (
            await s.execute(
                select(ContactLog.chat_id, ContactLog.id, ContactLog.text, ContactLog.status)
                .where(ContactLog.direction == "out")
                .order_by(ContactLog.id)
            )
        ).all()
    assert logged == len(every)  # every update recorded once
    assert kept == DEBTORS
    assert {status for *_, status in out} == {"sent"}
    # Every chat's replies arrived in the order the bot wrote them (the log keeps the HTML
    # sent; the sandbox shows what a person reads).
    written: dict[int, list[str]] = {}
    for chat_id, _, text, _ in out:
        written.setdefault(chat_id, []).append(html.unescape(re.sub(r"<[^>]*>", "", text)))
    for n in range(DEBTORS):
        chat = _user(n)["id"]
        shown = [m["text"] for m in sandbox.bot_messages(BOT, chat)]
        assert shown == written[chat] and len(shown) == 7, n
    assert sandbox.stats(BOT)["too_many_requests"] == 0
    print(
        f"{DEBTORS} debtors through the promise flow on {PROCESSES} webhook processes in"
        f" {elapsed:.1f} s; {len(every)} updates ({dict(sorted(handled_by.items()))} by"
        f" process), {len(out)} replies; 429s 0"
    )


async def _until(predicate, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
