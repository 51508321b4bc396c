"""The planner decides, for an instant, who gets which stage reminder: once, in the window."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db.base import utcnow
from bot.db.models import (
    ChannelLink,
    Debtor,
    HandoffTicket,
    Promise,
    ReminderOutbox,
    RepaymentPlan,
)
from bot.policy import load_policy
from bot.reminders.planner import plan
from tests.helpers import add_debtor

POLICY = load_policy()
# 15:00 UTC is 10:00 in New York (EST), inside the 08:00-21:00 window.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)


async def _outbox(sessions) -> list[tuple[str, str, datetime]]:
    async with sessions() as s:
        rows = await s.execute(
            select(
                ReminderOutbox.dedupe_key, ReminderOutbox.template_key, ReminderOutbox.not_before
            ).order_by(ReminderOutbox.id)
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    ("dpd", "expected"),
    [
        (-4, None),
        (-3, ("pre_due", 0)),
        (-1, ("pre_due", 0)),
        (0, None),
        (1, ("early", 0)),
        (5, ("early", 2)),
        (6, ("mid", 0)),
        (18, ("mid", 3)),
        (19, ("late", 0)),
        (28, ("late", 3)),
        (29, None),
    ],
)
async def test_each_stage_boundary(sessions, dpd, expected):
    due = TODAY - timedelta(days=dpd)
    async with sessions.begin() as s:
        debtor = await add_debtor(s, "D-1", accounts=[("A-1", due, 5000, "USD")], chat_id=101)

    async with sessions.begin() as s:
        report = await plan(s, POLICY, NOW)

    rows = await _outbox(sessions)
    if expected is None:
        assert rows == []
    else:
        stage, step = expected
        day = (due - date(1970, 1, 1)).days
        assert rows == [(f"stage:{debtor.id}:{day}:{stage}:{step}", f"stage_{stage}", NOW)]
    assert report.planned == len(rows)
    assert report.tickets_opened == (1 if dpd == 29 else 0)


async def test_cadence_plans_one_reminder_per_step(sessions):
    due = TODAY - timedelta(days=1)
    async with sessions.begin() as s:
        await add_debtor(s, "D-1", accounts=[("A-1", due, 5000, "USD")], chat_id=101)
    planned = []
    for day in range(0, 6):
        async with sessions.begin() as s:
            planned.append((await plan(s, POLICY, NOW + timedelta(days=day))).planned)
    steps = [key.rsplit(":", 2)[1:] for key, _, _ in await _outbox(sessions)]
    # DPD 1..5 is "early" every 2 days (steps 0, 1, 2); DPD 6 starts "mid".
    assert planned == [1, 0, 1, 0, 1, 1]
    assert steps == [["early", "0"], ["early", "1"], ["early", "2"], ["mid", "0"]]


async def test_planning_twice_or_in_two_sessions_at_once_plans_nothing_twice(sessions):
    async with sessions.begin() as s:
        for i in range(30):
            await add_debtor(
                s, f"D-{i}", accounts=[(f"A-{i}", TODAY - timedelta(days=3), 100, "USD")],
                chat_id=1000 + i,
            )  # fmt: skip

    async def one() -> int:
        async with sessions.begin() as s:
            return (await plan(s, POLICY, NOW)).planned

    results = await asyncio.gather(one(), one())
    again = await one()

    assert sum(results) == 30
    assert again == 0
    assert len(await _outbox(sessions)) == 30


async def test_several_accounts_of_one_debtor_make_one_reminder(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=101,
            accounts=[("A-1", TODAY - timedelta(days=2), 100, "USD"),
                      ("A-2", TODAY - timedelta(days=7), 200, "USD"),
                      ("A-3", TODAY + timedelta(days=2), 300, "USD")],
        )  # fmt: skip
    async with sessions.begin() as s:
        await plan(s, POLICY, NOW)
    day = (TODAY - timedelta(days=7) - date(1970, 1, 1)).days
    # The most overdue account (DPD 7, "mid") decides the stage.
    assert await _outbox(sessions) == [(f"stage:{debtor.id}:{day}:mid:0", "stage_mid", NOW)]


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "now", "expected_not_before"),
    [
        # 07:00 in Kolkata (+05:30): planned for 08:00 local, which is 02:30 UTC.
        ("Asia/Kolkata", _utc(2026, 12, 1, 1, 30), _utc(2026, 12, 1, 2, 30)),
        # 12:00 in Kolkata: now.
        ("Asia/Kolkata", _utc(2026, 12, 1, 6, 30), _utc(2026, 12, 1, 6, 30)),
        # 21:30 in Kolkata: window closed, nothing planned.
        ("Asia/Kolkata", _utc(2026, 12, 1, 16, 0), None),
        # New York on the day clocks fall back (1 Nov 2026): 08:00 EST is 13:00 UTC.
        ("America/New_York", _utc(2026, 11, 1, 9, 0), _utc(2026, 11, 1, 13, 0)),
        # New York on the day clocks spring forward (14 Mar 2027): 08:00 EDT is 12:00 UTC.
        ("America/New_York", _utc(2027, 3, 14, 9, 0), _utc(2027, 3, 14, 12, 0)),
        # Lord Howe shifts by half an hour; 08:00 (+11:00) on 2 Nov is 21:00 UTC on 1 Nov.
        ("Australia/Lord_Howe", _utc(2026, 11, 1, 20, 0), _utc(2026, 11, 1, 21, 0)),
    ],
)
async def test_window_in_the_debtors_own_zone(sessions, zone, now, expected_not_before):
    local_day = now.astimezone(ZoneInfo(zone)).date()
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", timezone=zone, chat_id=101,
            accounts=[("A-1", local_day - timedelta(days=2), 100, "USD")],
        )  # fmt: skip
    async with sessions.begin() as s:
        report = await plan(s, POLICY, now)
    rows = await _outbox(sessions)
    if expected_not_before is None:
        assert (rows, report.skipped) == ([], {"window_closed": 1})
    else:
        assert [r[2] for r in rows] == [expected_not_before]


def _stamped(**more: datetime) -> dict[str, datetime]:
    """Creation and change instants for a row a test writes itself."""
    now = utcnow()
    return {"created_at": now, "updated_at": now, **more}


HOLDS = {
    "opted_out": lambda d, s: setattr(d, "opted_out_at", utcnow()),
    "cease": lambda d, s: setattr(d, "cease_at", utcnow()),
    "deceased": lambda d, s: setattr(d, "deceased_at", utcnow()),
    "bankruptcy": lambda d, s: setattr(d, "bankruptcy_at", utcnow()),
    "dispute": lambda d, s: setattr(d, "dispute_at", utcnow()),
    "hardship": lambda d, s: setattr(d, "hardship_until", TODAY),
    "open_ticket": lambda d, s: s.add(
        HandoffTicket(debtor_id=d.id, reasons=["dispute"], **_stamped(opened_at=utcnow()))
    ),
    "open_promise": lambda d, s: s.add(
        Promise(debtor_id=d.id, account_id=d.accounts[0].id, amount_minor=100, currency="USD",
                promised_date=TODAY + timedelta(days=3), source="debtor", **_stamped())
    ),
    "plan_active": lambda d, s: s.add(
        RepaymentPlan(debtor_id=d.id, account_id=d.accounts[0].id, status="active",
                      total_minor=100, currency="USD", installment_count=2, source="debtor",
                      **_stamped())
    ),
}  # fmt: skip


@pytest.mark.parametrize("hold", sorted(HOLDS))
async def test_every_hold_stops_reminders_and_is_reported(sessions, hold):
    async with sessions.begin() as s:
        held = await add_debtor(
            s, "D-1", accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")], chat_id=101
        )
        await add_debtor(
            s, "D-2", accounts=[("A-2", TODAY - timedelta(days=3), 100, "USD")], chat_id=102
        )
    async with sessions.begin() as s:
        debtor = (
            await s.execute(
                select(Debtor)
                .where(Debtor.id == held.id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        await s.refresh(debtor, ["accounts"])
        HOLDS[hold](debtor, s)

    async with sessions.begin() as s:
        report = await plan(s, POLICY, NOW)

    assert (report.planned, dict(report.skipped)) == (1, {hold: 1})


async def test_hardship_ends_after_its_date(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")], chat_id=101
        )
        debtor.hardship_until = TODAY - timedelta(days=1)
    async with sessions.begin() as s:
        assert (await plan(s, POLICY, NOW)).planned == 1


async def test_unlinked_unverified_and_unreachable_are_skipped_with_reasons(sessions):
    due = TODAY - timedelta(days=3)
    async with sessions.begin() as s:
        await add_debtor(s, "D-1", accounts=[("A-1", due, 100, "USD")])
        await add_debtor(
            s, "D-2", accounts=[("A-2", due, 100, "USD")], chat_id=102, verified=False
        )
        gone = await add_debtor(s, "D-3", accounts=[("A-3", due, 100, "USD")], chat_id=103)
        await add_debtor(s, "D-4", accounts=[("A-4", due, 100, "USD")], chat_id=104)
    async with sessions.begin() as s:
        link = (
            await s.execute(select(ChannelLink).where(ChannelLink.debtor_id == gone.id))
        ).scalar_one()
        link.unreachable_at = utcnow()

    async with sessions.begin() as s:
        report = await plan(s, POLICY, NOW)

    assert report.planned == 1
    assert dict(report.skipped) == {"unlinked": 1, "unverified": 1, "unreachable": 1}


async def test_disputed_and_paid_accounts_are_left_out(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=101,
            accounts=[("A-1", TODAY - timedelta(days=20), 100, "USD"),
                      ("A-2", TODAY - timedelta(days=10), 100, "USD"),
                      ("A-3", TODAY - timedelta(days=3), 100, "USD")],
        )  # fmt: skip
        await s.refresh(debtor, ["accounts"])
        debtor.accounts[0].dispute_at = utcnow()
        debtor.accounts[1].status = "paid"
    async with sessions.begin() as s:
        await plan(s, POLICY, NOW)
    assert [r[1] for r in await _outbox(sessions)] == ["stage_early"]


async def test_final_stage_opens_one_ticket(sessions):
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", accounts=[("A-1", TODAY - timedelta(days=40), 100, "USD")], chat_id=101
        )
    for _ in range(2):
        async with sessions.begin() as s:
            await plan(s, POLICY, NOW)
    async with sessions() as s:
        tickets = (await s.execute(select(HandoffTicket.reasons, HandoffTicket.status))).all()
    assert [tuple(t) for t in tickets] == [(["final_stage"], "open")]
    assert await _outbox(sessions) == []
