"""`nudgebot remind` killed with SIGKILL in the middle of a campaign, then run again: nobody
gets two reminders, and nobody is given up on who was never sent one. Only a reminder whose
request was in flight at the kill is "delivery unknown", and never resent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from bot.db.models import Debtor, ReminderOutbox, Worker
from bot.policy import DEFAULT_POLICY
from tests.reminders.conftest import BOT, TOKEN

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
DEBTORS = 150
LEASE = 3


async def _chats_of(s, status: str) -> set[int]:
    """The chats (debtor ``D-<chat>``) whose reminder is in ``status``."""
    refs = await s.execute(
        select(Debtor.debtor_ref)
        .join(ReminderOutbox, ReminderOutbox.debtor_id == Debtor.id)
        .where(ReminderOutbox.status == status)
    )
    return {int(ref.removeprefix("D-")) for ref in refs.scalars()}


def _remind(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "remind", "--at", AT.isoformat()],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


async def test_a_killed_remind_run_doubles_nothing_and_loses_nothing(
    post, sessions, database_url, tmp_path
):
    chats = list(range(7000, 7000 + DEBTORS))
    await post.due(chats, TODAY)
    default = DEFAULT_POLICY.read_text(encoding="utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(default.replace("lease_seconds = 15", f"lease_seconds = {LEASE}"))
    env = {
        **os.environ,
        "NUDGEBOT_DATABASE_URL": database_url,
        "NUDGEBOT_BOT_TOKEN": TOKEN,
        "NUDGEBOT_TELEGRAM_API_URL": post.sandbox.base_url,
        "NUDGEBOT_POLICY_FILE": str(policy),
    }

    first = _remind(env)
    try:
        await post.sandbox.wait_until(BOT, lambda: post.sandbox.stats(BOT)["sent"] >= 50, 60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    arrived_at_kill = post.sandbox.stats(BOT)["sent"]
    arrived = {chat for chat in chats if post.sandbox.bot_texts(BOT, chat)}
    async with sessions() as s:
        held = dict(
            (
                await s.execute(
                    select(ReminderOutbox.status, func.count()).group_by(ReminderOutbox.status)
                )
            ).all()
        )
        sending = await _chats_of(s, "sending")
        claimed = await _chats_of(s, "claimed")
    # Rows claimed in a batch are not yet being sent (below: every one of them is sent by the
    # next run); a row is "sending" once its request is about to start.
    assert len(claimed) > 10, held
    print(f"at the kill: {len(sending)} sending, {len(sending - arrived)} of them not arrived")

    # Run again at once: the dead process's lease still holds for a moment, so its rows wait;
    # once it has run out they go out.
    second = _remind(env)
    _, err = await asyncio.to_thread(second.communicate, timeout=120)
    assert second.returncode == 0, err
    deadline = time.monotonic() + 60
    while True:
        async with sessions() as s:
            live = (await s.execute(select(func.count()).select_from(Worker))).scalar_one()
            left = (
                await s.execute(
                    select(func.count()).where(
                        ReminderOutbox.status.in_(["pending", "claimed", "sending"])
                    )
                )
            ).scalar_one()
        if not left:
            break
        assert time.monotonic() < deadline, (left, live)
        await asyncio.sleep(LEASE)
        third = _remind(env)
        _, err = await asyncio.to_thread(third.communicate, timeout=120)
        assert third.returncode == 0, err

    delivered = Counter(chat for chat in chats for _ in post.sandbox.bot_texts(BOT, chat))
    assert max(delivered.values()) == 1, "a debtor got two reminders"
    async with sessions() as s:
        rows = (await s.execute(select(ReminderOutbox))).scalars().all()
    states = Counter((r.status, r.reason) for r in rows)
    unknown = states[("failed", "interrupted: delivery unknown, not resent")]
    assert states[("sent", None)] + unknown == DEBTORS, states
    # Everyone not reached has a row saying their reminder may have gone: none silently lost,
    # and those are only what was in flight at the kill.
    async with sessions() as s:
        unknown_chats = await _chats_of(s, "failed")
    assert unknown_chats <= sending, "only a row being sent at the kill may be unknown"
    assert DEBTORS - len(delivered) <= unknown, (unknown, arrived_at_kill)
    async with sessions() as s:
        assert claimed <= await _chats_of(s, "sent"), "a row merely claimed was given up"
    print(f"arrived before the kill {arrived_at_kill}; delivery unknown {unknown}")
