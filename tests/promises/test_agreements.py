"""Agreements are stored by bot/promises: a promise replaces an open one on its account, and a
plan's schedule spreads exactly the balance."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.db.models import AuditEvent, HandoffTicket, Promise, RepaymentPlan
from bot.policy import load_policy
from bot.promises.agreements import make_plan, make_promise, plan_schedule, schedule
from tests.helpers import add_debtor

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_a_schedule_is_equal_installments_with_the_remainder_first():
    assert schedule(1000, 3, date(2026, 12, 10), 30) == [
        (date(2026, 12, 10), 334),
        (date(2027, 1, 9), 333),
        (date(2027, 2, 8), 333),
    ]


def test_what_the_debtor_can_pay_each_time_is_each_installment_and_the_rest_comes_last():
    parts = schedule(123_450, 13, date(2026, 12, 10), 30, each=10_000)
    assert [amount for _, amount in parts] == [10_000] * 12 + [3_450]
    assert [amount for _, amount in schedule(20_000, 2, date(2026, 12, 10), 30, each=10_000)] == [
        10_000, 10_000,
    ]  # fmt: skip
    # More installments than the amount needs (the policy's minimum): equal ones instead.
    assert [amount for _, amount in schedule(5_000, 2, date(2026, 12, 10), 30, each=8_000)] == [
        2_500, 2_500,
    ]  # fmt: skip


def test_a_schedule_of_one_installment_is_the_whole_amount():
    assert schedule(999, 1, date(2026, 12, 10), 30) == [(date(2026, 12, 10), 999)]


def test_a_schedule_spreads_exactly_the_total_over_distinct_dates():
    parts = schedule(10_001, 7, date(2026, 12, 1), 14)
    assert sum(amount for _, amount in parts) == 10_001
    assert len({day for day, _ in parts}) == 7
    assert max(a for _, a in parts) - min(a for _, a in parts) == 1


def test_a_plan_schedule_starts_and_is_spaced_as_the_policy_says():
    plans = POLICY.plans
    parts = plan_schedule(POLICY, 600, 2, date(2026, 12, 1))
    first = date(2026, 12, 1) + timedelta(days=plans.first_due_in_days)
    second = first + timedelta(days=plans.every_days)
    assert parts == [(first, 300), (second, 300)]


async def test_a_new_promise_cancels_the_open_one_on_the_same_account(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(s, "D-1", accounts=[("ACC-1", date(2026, 11, 20), 40000, "USD")])
        await s.refresh(debtor, ["accounts"])
        account = debtor.accounts[0]
        first = await make_promise(s, account, 20000, date(2026, 12, 5), NOW)
        second = await make_promise(s, account, 40000, date(2026, 12, 8), NOW)
        first_id, second_id, debtor_id = first.id, second.id, debtor.id

    async with sessions() as s:
        promises = (await s.execute(select(Promise).order_by(Promise.id))).scalars().all()
        events = (
            await s.execute(select(AuditEvent.kind, AuditEvent.detail).order_by(AuditEvent.id))
        ).all()
    assert [(p.id, p.status, p.resolved_at) for p in promises] == [
        (first_id, "cancelled", NOW),
        (second_id, "open", None),
    ]
    assert [(e.kind, e.detail) for e in events if e.kind == "promise_made"] == [
        ("promise_made", f"promise {first_id}: 20000 USD by 2026-12-05"),
        ("promise_made", f"promise {second_id}: 40000 USD by 2026-12-08"),
    ]
    assert all(p.debtor_id == debtor_id for p in promises)


async def test_a_plan_longer_than_the_policy_waits_for_review_with_a_ticket(sessions):
    count = POLICY.plans.max_installments + 1
    async with sessions.begin() as s:
        debtor = await add_debtor(s, "D-1", accounts=[("ACC-1", date(2026, 11, 20), 40000, "USD")])
        await s.refresh(debtor, ["accounts"])
        account = debtor.accounts[0]
        parts = plan_schedule(POLICY, account.amount_due_minor, count, date(2026, 12, 1))
        plan = await make_plan(s, POLICY, account, parts, NOW)
        plan_id = plan.id

    async with sessions() as s:
        stored = await s.get(RepaymentPlan, plan_id)
        tickets = (await s.execute(select(HandoffTicket.reasons))).scalars().all()
    assert (stored.status, stored.activated_at, stored.installment_count) == (
        "review",
        None,
        count,
    )
    assert tickets == [["plan_review"]]
