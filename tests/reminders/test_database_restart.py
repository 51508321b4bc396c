"""PostgreSQL restarted (`pg_ctlcluster … restart`) in the middle of a campaign sent by three
bot processes: every process carries on by itself and the campaign completes, nobody gets two
reminders, and none is lost."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import running
from bot.db.engine import create_engine, is_sqlite, session_factory
from bot.db.models import ReminderOutbox, Worker
from bot.policy import DEFAULT_POLICY
from bot.settings import Settings
from tests.reminders.conftest import BOT, TOKEN

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 12, 1)
DEBTORS = 240
PROCESSES = 3


def _restart_command(database_url: str) -> list[str] | None:
    """How to restart the server the tests use, or None where this machine cannot."""
    clusters = Path("/etc/postgresql")
    if (
        is_sqlite(database_url)
        or "127.0.0.1" not in database_url
        or shutil.which("pg_ctlcluster") is None
        or os.geteuid() != 0
        or not clusters.is_dir()
    ):
        return None
    versions = sorted(p.name for p in clusters.iterdir() if (p / "main").is_dir())
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


async def _unsettled(sessions) -> int:
    async with sessions() as s:
        return (
            await s.execute(
                select(func.count()).where(
                    ReminderOutbox.status.in_(["pending", "claimed", "sending"])
                )
            )
        ).scalar_one()


async def test_a_postgresql_restart_mid_campaign_stops_no_process(
    post, sessions, database_url, tmp_path
):
    restart = _restart_command(database_url)
    if restart is None:
        pytest.skip(
            "needs the PostgreSQL server on 127.0.0.1 and the right to restart it"
            " (root and pg_ctlcluster); here it cannot be restarted"
        )
    chats = list(range(9100, 9100 + DEBTORS))
    await post.due(chats, TODAY)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        DEFAULT_POLICY.read_text(encoding="utf-8")
        .replace("lease_seconds = 15", "lease_seconds = 3")
        .replace("dispatch_every_seconds = 30", "dispatch_every_seconds = 5")
    )
    settings = Settings(
        database_url=database_url, bot_token=TOKEN, telegram_api_url=post.sandbox.base_url,
        web_port=0, creditor_name="Acme Lending", policy_file=policy,
        # Several processes serve one bot by webhook (long polling is for one process); no
        # update comes in this test, so the URL need not lead anywhere.
        webhook_url="http://127.0.0.1:9/telegram/webhook", webhook_secret="s3cret-restart",
    )  # fmt: skip

    # The processes' clock starts at AT and runs: a reminder put off for a few seconds after
    # a database error must come due again.
    origin = time.monotonic()

    def clock() -> datetime:
        return AT + timedelta(seconds=time.monotonic() - origin)

    async with AsyncExitStack() as stack:
        for _ in range(PROCESSES):
            await stack.enter_async_context(running(settings, clock=clock))
        await post.sandbox.wait_until(BOT, lambda: post.sandbox.stats(BOT)["sent"] >= 60, 30)
        began = time.monotonic()
        done = await asyncio.to_thread(subprocess.run, restart, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        restarted_in = time.monotonic() - began
        sent_during_restart = post.sandbox.stats(BOT)["sent"]
        # The test's own pool lost its connections too: look through a new one.
        await sessions.kw["bind"].dispose()
        watcher = create_engine(database_url)
        looking = session_factory(watcher)
        try:
            deadline = time.monotonic() + 90
            while left := await _retry(_unsettled, looking):
                assert time.monotonic() < deadline, f"the campaign did not complete: {left} left"
                await asyncio.sleep(0.5)
            # Every process is still alive and renewing its lease.
            await asyncio.sleep(1.5)
            async with looking() as s:
                found = await s.execute(
                    select(Worker.name).where(
                        Worker.alive_until > time.time(), Worker.name != post.sender.lease.name
                    )
                )
                live = found.scalars().all()
            assert len(live) == PROCESSES, live
            async with looking() as s:
                rows = (await s.execute(select(ReminderOutbox))).scalars().all()
        finally:
            await watcher.dispose()

    delivered = Counter(chat for chat in chats for _ in post.sandbox.bot_texts(BOT, chat))
    assert max(delivered.values()) == 1, "a debtor got two reminders"
    states = Counter((r.status, (r.reason or "").split(":")[0]) for r in rows)
    unknown = states[("failed", "interrupted")]
    assert states[("sent", "")] + unknown == DEBTORS, states
    assert DEBTORS - len(delivered) <= unknown <= 5, states
    # Messages whose hand-over waited for the server take a new slot rather than going at
    # once, so Telegram's limits hold through the restart too.
    too_many = post.sandbox.stats(BOT)["too_many_requests"]
    assert too_many == 0, too_many
    print(
        f"restart took {restarted_in:.1f} s with {sent_during_restart} sent before it ended;"
        f" delivery unknown {unknown}; 429s {too_many}"
    )


async def _retry(query, sessions):
    """The first look after the restart may still meet the server starting up."""
    for attempt in range(20):
        try:
            return await query(sessions)
        except Exception:
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")
