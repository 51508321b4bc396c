"""Reminders as an operator runs them: `nudgebot remind --at`, and the ticker inside `run`."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from bot.app import running
from bot.cli import main
from bot.settings import load_settings
from tests.helpers import add_debtor
from tests.reminders.conftest import BOT, TOKEN

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York, 23:00 in Shanghai
TODAY = date(2026, 12, 1)


async def _debtors(sessions) -> None:
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=601, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
        await add_debtor(
            s, "D-2", chat_id=602, accounts=[("A-2", TODAY - timedelta(days=8), 100, "USD")]
        )
        await add_debtor(
            s, "D-3", chat_id=603, timezone="Asia/Shanghai",
            accounts=[("A-3", TODAY - timedelta(days=3), 100, "CNY")],
        )  # fmt: skip
        await add_debtor(s, "D-4", accounts=[("A-4", TODAY - timedelta(days=3), 100, "USD")])
        await add_debtor(
            s, "D-5", chat_id=605, accounts=[("A-5", TODAY - timedelta(days=30), 100, "USD")]
        )


async def test_remind_at_runs_one_cycle_and_prints_the_summary(
    post, sessions, database_url, monkeypatch, capsys
):
    post.started(601, 602, 603)
    post.sandbox.block(BOT, 602)
    await _debtors(sessions)
    monkeypatch.setenv("NUDGEBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("NUDGEBOT_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("NUDGEBOT_TELEGRAM_API_URL", post.sandbox.base_url)

    status = await asyncio.to_thread(main, ["remind", "--at", AT.isoformat()])
    again = await asyncio.to_thread(main, ["remind", "--at", AT.isoformat()])

    out = capsys.readouterr().out.splitlines()
    assert (status, again) == (0, 0)
    second = out.index("remind at 2026-12-01T15:00:00+00:00", 1)
    assert out[:second] == [
        "remind at 2026-12-01T15:00:00+00:00",
        "  planned: 2",
        "  sent: 1",
        "  deferred: 0 (retrying after an error: 0)",
        "  skipped: 2 (unlinked 1, window_closed 1)",
        "  failed: 1 (unreachable 1)",
        "  interrupted earlier, not resent: 0",
        "  left unsent by a stopped process, sent now: 0",
        "  tickets opened for the final stage: 1",
        "  promises settled: none",
        "  plans updated: 0",
    ]
    assert out[second + 1 : second + 4] == [
        "  planned: 0",
        "  sent: 0",
        "  deferred: 0 (retrying after an error: 0)",
    ]
    assert len(post.sandbox.bot_texts(BOT, 601)) == 1


async def test_remind_rejects_an_instant_without_offset(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["remind", "--at", "2026-12-01T09:30:00"])
    assert "needs an offset" in capsys.readouterr().err


async def test_the_running_bot_sends_due_reminders_by_itself(post, sessions, database_url):
    post.started(601)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=601, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    settings = load_settings(
        database_url=database_url, bot_token=TOKEN, telegram_api_url=post.sandbox.base_url,
        web_port=0,
    )  # fmt: skip
    async with running(settings, clock=lambda: AT):
        # The bot answers the user's earlier /start, and sends the reminder by itself.
        await post.sandbox.wait_for_bot_messages(BOT, 601, 2, within=10)
    reminders = [t for t in post.sandbox.bot_texts(BOT, 601) if t.endswith("reply STOP.")]
    assert len(reminders) == 1
    assert reminders[0].startswith("Hello Test, we have not yet received")
