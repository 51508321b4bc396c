"""The decision trace says what the planner and the dispatcher then do: each verdict is checked
against a real plan and dispatch at the same instant, through the local Telegram."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from bot.db.models import Debtor, HandoffTicket, ReminderOutbox
from bot.policy import load_policy
from bot.reminders.explain import explain
from bot.reminders.planner import plan
from bot.reminders.trace import Check, Hold, Verdict
from tests.helpers import add_debtor
from tests.reminders.conftest import BOT, sent_before

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York, 23:00 in Shanghai
TODAY = date(2026, 12, 1)
BEFORE = NOW - timedelta(days=20)  # when the portfolio was loaded and the chats verified
CHATS = {"D-WRITE": 301, "D-NIGHT": 302, "D-HELD": 303, "D-CAP": 304, "D-GAP": 305}


async def _portfolio(sessions, post) -> dict[str, int]:
    """Five debtors, each with one account three days overdue (the early stage)."""
    post.started(*CHATS.values())
    ids = {}
    async with sessions.begin() as s:
        for ref, chat in CHATS.items():
            zone = "Asia/Shanghai" if ref == "D-NIGHT" else "America/New_York"
            debtor = await add_debtor(
                s, ref, chat_id=chat, timezone=zone, at=BEFORE,
                accounts=[(f"A-{chat}", TODAY - timedelta(days=3), 12000, "USD")],
            )  # fmt: skip
            ids[ref] = debtor.id
        held, opened = ids["D-HELD"], NOW - timedelta(days=4)
        await s.execute(
            update(Debtor)
            .where(Debtor.id == held)
            .values(opted_out_at=NOW - timedelta(days=2), dispute_at=NOW - timedelta(days=5))
        )
        s.add(
            HandoffTicket(
                debtor_id=held, status="open", reasons=["dispute"], opened_at=opened,
                created_at=opened, updated_at=opened,
            )
        )  # fmt: skip
    # Seven messages in the last week, the newest an hour ago (09:00 in New York).
    await sent_before(
        sessions, ids["D-CAP"], *(NOW - timedelta(days=k, hours=1) for k in range(7))
    )
    # One message 19 hours ago: the 20-hour gap ends at 11:00 New York.
    await sent_before(sessions, ids["D-GAP"], NOW - timedelta(hours=19))
    return ids


async def _verdicts(sessions, ids: dict[str, int], now: datetime) -> dict[str, Verdict]:
    async with sessions() as s:
        return {ref: (await explain(s, POLICY, id_, now)).verdict for ref, id_ in ids.items()}


async def _outbox(sessions, debtor_id: int) -> list[tuple[str, str | None, datetime]]:
    """The debtor's stage reminders planned by the planner: status, reason, not_before."""
    async with sessions() as s:
        rows = await s.execute(
            select(ReminderOutbox.status, ReminderOutbox.reason, ReminderOutbox.not_before)
            .where(
                ReminderOutbox.debtor_id == debtor_id, ReminderOutbox.dedupe_key.like("stage:%")
            )
            .order_by(ReminderOutbox.id)
        )
        return [tuple(r) for r in rows]


async def test_each_verdict_is_what_planning_and_dispatching_then_do(sessions, post):
    ids = await _portfolio(sessions, post)
    night_opens = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00 on 2 December in Shanghai
    gap_ends = NOW + timedelta(hours=1)
    # The cap frees when the oldest of the seven (25 Nov 14:00) leaves the week; the last one
    # went out in the morning slot, so the next goes from midday (12:20 in New York).
    cap_slot = datetime(2026, 12, 2, 17, 20, tzinfo=UTC)

    verdicts = await _verdicts(sessions, ids, NOW)

    assert verdicts == {
        "D-WRITE": Verdict("writes_today", None, NOW),
        "D-NIGHT": Verdict("not_today", "window_closed", night_opens),
        "D-HELD": Verdict("held", "opted_out"),
        "D-CAP": Verdict("not_today", "weekly_cap", cap_slot),
        "D-GAP": Verdict("writes_today", "min_gap", gap_ends),
    }

    async with sessions.begin() as s:
        planned = await plan(s, POLICY, NOW)
    report = await post.dispatcher().dispatch(NOW)

    assert dict(planned.skipped) == {"window_closed": 1, "opted_out": 1}
    assert (report.sent, report.deferred, dict(report.skipped)) == (1, 1, {"weekly_cap": 1})
    assert len(post.sandbox.bot_texts(BOT, CHATS["D-WRITE"])) == 1
    assert await _outbox(sessions, ids["D-WRITE"]) == [("sent", None, NOW)]
    assert await _outbox(sessions, ids["D-NIGHT"]) == []
    assert await _outbox(sessions, ids["D-HELD"]) == []
    assert await _outbox(sessions, ids["D-CAP"]) == [("skipped", "weekly_cap", NOW)]
    assert await _outbox(sessions, ids["D-GAP"]) == [("pending", "minimum gap", gap_ends)]

    # Once sent, the trace says so; the deferred one goes out at the instant it named.
    after = await _verdicts(sessions, {"D-WRITE": ids["D-WRITE"]}, NOW)
    assert after == {"D-WRITE": Verdict("step_done", "sent", NOW)}
    assert (await post.dispatcher().dispatch(gap_ends - timedelta(minutes=1))).sent == 0
    assert (await post.dispatcher().dispatch(gap_ends)).sent == 1
    assert len(post.sandbox.bot_texts(BOT, CHATS["D-GAP"])) == 1

    # In Shanghai nothing goes before the window opens, and the reminder goes when it does.
    early = night_opens - timedelta(minutes=10)
    assert (await _verdicts(sessions, {"D-NIGHT": ids["D-NIGHT"]}, early)) == {
        "D-NIGHT": Verdict("writes_today", "window_closed", night_opens)
    }
    async with sessions.begin() as s:
        assert (await plan(s, POLICY, early)).planned == 1
    assert (await post.dispatcher().dispatch(early)).sent == 0
    assert (await post.dispatcher().dispatch(night_opens)).sent == 1
    assert len(post.sandbox.bot_texts(BOT, CHATS["D-NIGHT"])) == 1


async def test_every_hold_is_listed_with_since_when(sessions, post):
    ids = await _portfolio(sessions, post)
    async with sessions() as s:
        trace = await explain(s, POLICY, ids["D-HELD"], NOW)

    assert trace.holds == [
        Hold("opted_out", since=NOW - timedelta(days=2)),
        Hold("dispute", since=NOW - timedelta(days=5)),
        Hold("open_ticket", since=NOW - timedelta(days=4), detail="open"),
    ]
    assert [c for c in trace.checks if c.state != "pass"] == [Check("holds", "fail")]


async def test_the_window_caps_and_slot_show_what_the_dispatcher_counts(sessions, post):
    ids = await _portfolio(sessions, post)
    async with sessions() as s:
        capped = await explain(s, POLICY, ids["D-CAP"], NOW)
        gap = await explain(s, POLICY, ids["D-GAP"], NOW)
        night = await explain(s, POLICY, ids["D-NIGHT"], NOW)
        # At 07:00 the window opens at 08:00, but the gap holds the message until 11:00.
        morning = await explain(s, POLICY, ids["D-GAP"], NOW - timedelta(hours=3))

    assert (capped.caps.used, capped.caps.limit, capped.caps.last_at) == (
        7, 7, NOW - timedelta(hours=1),
    )  # fmt: skip
    assert (capped.slot.unanswered, capped.slot.slot) == (2, "midday")
    assert [c.code for c in capped.checks if c.state == "fail"] == [
        "weekly_cap", "min_gap", "time_of_day",
    ]  # fmt: skip
    assert (gap.caps.used, gap.caps.gap_ends_at) == (1, NOW + timedelta(hours=1))
    assert morning.verdict == Verdict("writes_today", "min_gap", NOW + timedelta(hours=1))
    assert (night.clock.open, night.clock.local_now.hour, night.next_slot) == (
        False, 23, datetime(2026, 12, 2, 0, 0, tzinfo=UTC),
    )  # fmt: skip
    assert (night.due.dpd, night.due.stage, night.due.reason) == (3, "early", "window_closed")
    [account] = night.accounts
    assert (account.ref, account.dpd, account.stage) == ("A-302", 3, "early")


async def test_nothing_due_before_the_first_stage_and_the_final_stage_goes_to_people(sessions):
    async with sessions.begin() as s:
        soon = await add_debtor(
            s, "D-SOON", chat_id=401, at=BEFORE,
            accounts=[("A-401", TODAY + timedelta(days=10), 5000, "USD")],
        )  # fmt: skip
        final = await add_debtor(
            s, "D-FINAL", chat_id=402, at=BEFORE,
            accounts=[("A-402", TODAY - timedelta(days=40), 5000, "USD")],
        )  # fmt: skip
    async with sessions() as s:
        soon_trace = await explain(s, POLICY, soon.id, NOW)
        final_trace = await explain(s, POLICY, final.id, NOW)

    # The first stage starts three days before the due date.
    assert soon_trace.verdict == Verdict("nothing_due", "not_yet", day=TODAY + timedelta(days=7))
    assert soon_trace.accounts[0].stage == "not_yet"
    assert final_trace.verdict == Verdict("final_stage")
    assert final_trace.accounts[0].stage == "final"


async def test_a_debtor_without_a_chat_has_one_chat_hold_not_three(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-NOCHAT", at=BEFORE, accounts=[("A-501", TODAY - timedelta(days=3), 5000, "USD")]
        )
    async with sessions() as s:
        trace = await explain(s, POLICY, debtor.id, NOW)

    assert trace.holds == [Hold("unlinked", since=BEFORE)]
    assert trace.verdict == Verdict("held", "unlinked")
