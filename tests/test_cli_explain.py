"""``nudgebot explain`` as staff run it: the decision trace of one debtor, in words."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.cli import main
from bot.db.engine import create_engine, session_factory
from bot.db.models import ReminderOutbox
from tests.helpers import add_debtor

# Pages and commands over the same figures on either database: CI runs these once.
pytestmark = pytest.mark.once

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York


async def _alice(url: str) -> None:
    """A debtor eleven days late who got a reminder 19 hours ago."""
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as s:
            debtor = await add_debtor(
                s, "D-1", name="Alice Martin", chat_id=301, at=NOW - timedelta(days=20),
                accounts=[("ACC-1001", date(2026, 11, 20), 123450, "USD"),
                          ("ACC-1002", date(2026, 12, 3), 8999, "USD")],
            )  # fmt: skip
            sent = NOW - timedelta(hours=19)
            s.add(
                ReminderOutbox(
                    dedupe_key="stage:old", debtor_id=debtor.id, kind="stage", stage="early",
                    template_key="stage_early", planned_at=sent, not_before=sent,
                    status="sent", sent_at=sent, attempts=1,
                )
            )  # fmt: skip
    finally:
        await engine.dispose()


def test_explain_prints_why_and_when_the_bot_writes(cli_env, capsys):
    asyncio.run(_alice(cli_env))

    assert main(["explain", "D-1", "--at", "2026-12-01T10:00:00-05:00"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "D-1 · Alice Martin · en_US · America/New_York",
        "At Tue 1 Dec 10:00 their time (1 Dec 15:00 UTC)",
        "",
        "The bot will write today at 11:00 their time, once the minimum gap since the last"
        " message has passed.",
        "Next slot the window, caps and gap allow: Tue 1 Dec 11:00 their time (1 Dec 16:00 UTC)",
        "",
        "Checks, in the order the bot makes them:",
        "  ok  Stage           most overdue 11 days past due: mid",
        "  ok  Holds           none",
        "  ok  This step       not planned yet",
        "  ok  Contact window  08:00–21:00, open now",
        "  ok  Weekly cap      1 of 7 in the last 7 days",
        "  NO  Minimum gap     20 h after the last: not before Tue 1 Dec 11:00",
        "  ok  Time of day     1 of 2 unanswered in a row: any time of the window",
        "",
        "Holds:",
        "  none",
        "",
        "Accounts:",
        "  ACC-1001          $1,234.50  due 2026-11-20  DPD   11  mid            open",
        "  ACC-1002             $89.99  due 2026-12-03  DPD   -2  pre_due        open",
        "",
        "Planned messages:",
        "  none",
    ]


def test_an_unknown_reference_is_one_line_and_exit_2(cli_env, capsys):
    assert main(["explain", "D-404", "--at", "2026-12-01T10:00:00-05:00"]) == 2
    assert capsys.readouterr() == ("", "nudgebot: no debtor has reference 'D-404'\n")


def test_an_instant_without_an_offset_is_refused(cli_env, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["explain", "D-1", "--at", "2026-12-01T10:00"])
    assert stopped.value.code == 2
    assert "needs an offset, e.g. +00:00" in capsys.readouterr().err
