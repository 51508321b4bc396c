"""The dispatcher sends each planned reminder at most once, within every rule, or says why not."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from bot.db.base import utcnow
from bot.db.models import (
    Account,
    ChannelLink,
    Debtor,
    ReminderOutbox,
    TemplateVersion,
)
from bot.policy import Caps, LateFees, load_policy
from bot.reminders.planner import plan
from bot.templates.store import forget_cached_templates
from tests.helpers import add_debtor
from tests.reminders.conftest import BOT, sent_before

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 12, 1)


async def _states(sessions) -> list[tuple[str, str | None]]:
    async with sessions() as s:
        rows = await s.execute(
            select(ReminderOutbox.status, ReminderOutbox.reason).order_by(ReminderOutbox.id)
        )
        return [tuple(r) for r in rows]


async def _plan(sessions, now=NOW, policy=POLICY) -> int:
    async with sessions.begin() as s:
        return (await plan(s, policy, now)).planned


async def test_reminders_in_english_and_chinese_end_with_the_opt_out_line(sessions, post):
    post.started(301, 302)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", name="Alice Martin", chat_id=301,
            accounts=[("ACC-1001", TODAY - timedelta(days=3), 123450, "USD"),
                      ("ACC-1002", TODAY + timedelta(days=2), 8999, "USD")],
        )  # fmt: skip
        await add_debtor(
            s, "D-2", name="王小明", chat_id=302, locale="zh_CN", timezone="Asia/Shanghai",
            accounts=[("ACC-2001", date(2026, 11, 24), 560000, "CNY")],
        )  # fmt: skip
    # 15:00 UTC is 23:00 in Shanghai: only New York is inside its window now.
    assert await _plan(sessions) == 1
    assert await _plan(sessions, NOW + timedelta(hours=10)) == 1  # 09:00 in Shanghai

    report = await post.dispatcher().dispatch(NOW + timedelta(hours=10))

    assert report.sent == 2
    assert post.sandbox.bot_texts(BOT, 301) == [
        "Hello Alice, we have not yet received the payment that was due, so here is a quick"
        " reminder from Acme Lending.\n\n"
        "• $1,234.50 (ref. ACC-1001), due November 28, 2026\n"
        "• $89.99 (ref. ACC-1002), due December 3, 2026\n\n"
        "It is easy to miss a date. You can pay with the button below, or tell us when you"
        " expect to pay.\n\n"
        "To stop these reminders, reply STOP."
    ]
    assert post.sandbox.bot_texts(BOT, 302) == [
        "王小明，您好！这里是Acme Lending。您的款项已逾期 8 天，我们希望能帮您一起解决。\n\n"
        "• ¥5,600.00，编号 ACC-2001，到期日 2026年11月24日\n\n"
        "如果您遇到了还款困难，请告诉我们您的情况。我们可以约定一个还款日期，"
        "或为您制定符合预算的分期还款计划。\n\n"
        "如需停止接收提醒，请回复“退订”。"
    ]
    keyboard = post.sandbox.bot_messages(BOT, 301)[0]["reply_markup"]["inline_keyboard"]
    assert keyboard[0] == [{"text": "Pay ACC-1001", "url": "https://pay.example/ACC-1001"}]
    assert await _states(sessions) == [("sent", None), ("sent", None)]


async def test_late_fees_show_when_switched_on(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=10), 100000, "USD")]
        )
    policy = POLICY.model_copy(
        update={"late_fees": LateFees(enabled=True, daily_rate_permille=1, cap_percent=5)}
    )
    await _plan(sessions, policy=policy)
    await post.dispatcher(policy).dispatch(NOW)
    # 0.1 % a day for 10 days of $1,000.00 is $10.00.
    assert (
        "• $1,010.00 (ref. A-1), due November 21, 2026, including a late fee of $10.00"
        in (post.sandbox.bot_texts(BOT, 301)[0])
    )


async def test_opting_out_between_planning_and_sending_stops_the_message(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await _plan(sessions)
    async with sessions.begin() as s:
        await s.execute(update(Debtor).where(Debtor.id == debtor.id).values(opted_out_at=utcnow()))

    report = await post.dispatcher().dispatch(NOW)

    assert (report.sent, dict(report.skipped)) == (0, {"opted_out": 1})
    assert await _states(sessions) == [("skipped", "opted_out")]
    assert post.sandbox.bot_texts(BOT, 301) == []


async def test_a_payment_after_planning_supersedes_the_reminder(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await _plan(sessions)
    async with sessions.begin() as s:
        await s.execute(
            update(Account).where(Account.debtor_id == debtor.id).values(status="paid")
        )
    await post.dispatcher().dispatch(NOW)
    assert await _states(sessions) == [("skipped", "superseded")]


async def test_a_block_marks_unreachable_and_is_never_retried(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await _plan(sessions)
    post.sandbox.block(BOT, 301)

    first = await post.dispatcher().dispatch(NOW)
    second = await post.dispatcher().dispatch(NOW + timedelta(hours=1))

    assert dict(first.failed) == {"unreachable": 1}
    assert (second.sent, dict(second.failed)) == (0, {})
    assert post.sandbox.stats(BOT)["requests"]["sendmessage"] == 1
    async with sessions() as s:
        assert (await s.execute(select(ChannelLink.unreachable_at))).scalar_one() is not None
    assert await _plan(sessions, NOW + timedelta(days=2)) == 0


async def test_a_server_error_is_retried_with_backoff(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await _plan(sessions)
    post.sandbox.inject_server_error(BOT, count=1, methods=["sendMessage"])

    first = await post.dispatcher().dispatch(NOW)
    too_soon = await post.dispatcher().dispatch(NOW + timedelta(seconds=1))
    later = await post.dispatcher().dispatch(NOW + timedelta(seconds=3))

    assert (first.retrying, too_soon.sent, later.sent) == (1, 0, 1)
    assert len(post.sandbox.bot_texts(BOT, 301)) == 1


async def test_a_broken_template_fails_its_row_and_the_others_go(sessions, post):
    post.started(301, 302)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
        await add_debtor(
            s, "D-2", chat_id=302, locale="zh_CN",
            accounts=[("A-2", TODAY - timedelta(days=3), 100, "USD")],
        )  # fmt: skip
        s.add(
            TemplateVersion(
                key="stage_early",
                locale="zh_CN",
                version=1,
                body="{{ oops(",
                created_at=NOW,
                published_at=NOW,
            )
        )
    forget_cached_templates()  # as publishing through the admin console does
    await _plan(sessions)

    report = await post.dispatcher().dispatch(NOW)

    assert (report.sent, dict(report.failed)) == (1, {"template": 1})
    states = await _states(sessions)
    assert states[0] == ("sent", None)
    assert states[1][0] == "failed"
    assert states[1][1].startswith("template: template stage_early (zh_CN): line 1:")


async def test_outside_the_window_waits_for_the_next_opening(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await _plan(sessions, NOW + timedelta(hours=10, minutes=50))  # 20:50 in New York

    late = await post.dispatcher().dispatch(NOW + timedelta(hours=11, minutes=30))  # 21:30
    async with sessions() as s:
        not_before = (await s.execute(select(ReminderOutbox.not_before))).scalar_one()
    morning = await post.dispatcher().dispatch(datetime(2026, 12, 2, 13, 0, tzinfo=UTC))

    assert (late.deferred, late.sent) == (1, 0)
    assert not_before == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
    assert morning.sent == 1


async def test_the_seven_day_cap(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await sent_before(sessions, debtor.id, NOW - timedelta(days=6), NOW - timedelta(days=2))
    policy = POLICY.model_copy(update={"caps": Caps(max_per_7_days=2, min_gap_hours=20)})
    await _plan(sessions, policy=policy)

    report = await post.dispatcher(policy).dispatch(NOW)

    assert dict(report.skipped) == {"weekly_cap": 1}


async def test_the_minimum_gap_defers(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await sent_before(sessions, debtor.id, NOW - timedelta(hours=19))
    await _plan(sessions)

    report = await post.dispatcher().dispatch(NOW)

    assert report.deferred == 1
    async with sessions() as s:
        row = (
            await s.execute(select(ReminderOutbox).where(ReminderOutbox.status == "pending"))
        ).scalar_one()
    assert row.not_before == NOW + timedelta(hours=1)


async def test_non_responders_get_the_next_reminder_at_another_time_of_day(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    # Two unanswered reminders, the last one in the morning (09:00 New York = 14:00 UTC).
    await sent_before(
        sessions, debtor.id, NOW - timedelta(days=4), NOW - timedelta(days=2, hours=1)
    )
    await _plan(sessions)

    report = await post.dispatcher().dispatch(NOW)  # 10:00, morning again

    async with sessions() as s:
        row = (
            await s.execute(select(ReminderOutbox).where(ReminderOutbox.status == "pending"))
        ).scalar_one()
    # The window 08:00-21:00 has thirds from 08:00, 12:20 and 16:40: midday starts 17:20 UTC.
    assert (report.deferred, row.reason, row.not_before) == (
        1, "another time of day", datetime(2026, 12, 1, 17, 20, tzinfo=UTC),
    )  # fmt: skip


async def test_a_row_left_sending_by_a_crash_is_settled_not_resent(sessions, post):
    post.started(301)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", chat_id=301, accounts=[("A-1", TODAY - timedelta(days=3), 100, "USD")]
        )
    await _plan(sessions)
    async with sessions.begin() as s:
        await s.execute(
            update(ReminderOutbox).values(status="sending", claimed_at=NOW - timedelta(minutes=30))
        )

    report = await post.dispatcher().dispatch(NOW)

    assert (report.interrupted, report.sent) == (1, 0)
    assert await _states(sessions) == [("failed", "interrupted: delivery unknown, not resent")]
    assert post.sandbox.bot_texts(BOT, 301) == []


async def test_two_dispatchers_at_once_send_each_reminder_once(sessions, post):
    chats = list(range(400, 440))
    post.started(*chats)
    async with sessions.begin() as s:
        for chat in chats:
            await add_debtor(
                s,
                f"D-{chat}",
                chat_id=chat,
                accounts=[(f"A-{chat}", TODAY - timedelta(days=3), 100, "USD")],
            )
    await _plan(sessions)

    other = await post.another_process()
    reports = await asyncio.gather(
        post.dispatcher().dispatch(NOW), post.dispatcher(sender=other).dispatch(NOW)
    )

    assert sum(r.sent for r in reports) == 40
    assert all(len(post.sandbox.bot_texts(BOT, chat)) == 1 for chat in chats)
    assert post.sandbox.stats(BOT)["sent"] == 40


async def test_a_429_storm_sends_everything_once_within_the_limit(sessions, post):
    from bot.sandbox import RateLimits

    chats = list(range(500, 560))
    post.started(*chats)
    # The server allows only 10 messages a second; our limiter aims at 30, so 429s come.
    post.sandbox.set_rate_limits(RateLimits(global_per_second=10, global_burst=5))
    async with sessions.begin() as s:
        for chat in chats:
            await add_debtor(
                s,
                f"D-{chat}",
                chat_id=chat,
                accounts=[(f"A-{chat}", TODAY - timedelta(days=3), 100, "USD")],
            )
    await _plan(sessions)

    report = await post.dispatcher().dispatch(NOW)

    stats = post.sandbox.stats(BOT)
    assert report.sent == 60
    assert stats["too_many_requests"] > 0
    assert stats["sent"] == 60
    assert all(len(post.sandbox.bot_texts(BOT, chat)) == 1 for chat in chats)
