"""Plans are followed up: reminded before each installment, paid in order, and broken (as
the policy says) when an installment stays unpaid past its grace period."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.db.models import HandoffTicket, PlanInstallment, RepaymentPlan
from bot.policy import load_policy
from bot.services.cycle import run_cycle
from tests.helpers import add_debtor
from tests.reminders.conftest import BOT
from tests.reminders.test_promises import _pay

POLICY = load_policy()
AGREED = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York


async def _plan(sessions, post) -> int:
    post.started(801)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", name="Alice Martin", chat_id=801,
            accounts=[("ACC-1", date(2026, 11, 20), 40000, "USD")],
        )  # fmt: skip
        await s.refresh(debtor, ["accounts"])
        plan = RepaymentPlan(
            debtor_id=debtor.id, account_id=debtor.accounts[0].id, status="active",
            total_minor=40000, currency="USD", installment_count=2, source="debtor",
            activated_at=AGREED, created_at=AGREED, updated_at=AGREED,
            installments=[
                PlanInstallment(seq=1, due_date=date(2026, 12, 10), amount_minor=20000,
                                paid_minor=0, status="pending"),
                PlanInstallment(seq=2, due_date=date(2027, 1, 9), amount_minor=20000,
                                paid_minor=0, status="pending"),
            ],
        )  # fmt: skip
        s.add(plan)
        await s.flush()
        return plan.id


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)


async def _states(sessions, plan_id: int) -> tuple[str, list[str]]:
    async with sessions() as s:
        plan = await s.get(RepaymentPlan, plan_id)
        await s.refresh(plan, ["installments"])
        return plan.status, [i.status for i in plan.installments]


async def test_reminded_paid_then_missed_then_broken(sessions, post):
    plan_id = await _plan(sessions, post)
    policy = POLICY

    first = await run_cycle(sessions, post.dispatcher(), policy, _at(date(2026, 12, 8)))
    await _pay(sessions, "ACC-1", 20000, _at(date(2026, 12, 9)))
    await run_cycle(sessions, post.dispatcher(), policy, _at(date(2027, 1, 7)))  # reminder 2
    missed = await run_cycle(sessions, post.dispatcher(), policy, _at(date(2027, 1, 10)))
    # Two reminders went unanswered in the morning: this one waits for midday (17:20 UTC).
    midday = await run_cycle(
        sessions, post.dispatcher(), policy, datetime(2027, 1, 10, 18, 0, tzinfo=UTC)
    )
    broken = await run_cycle(sessions, post.dispatcher(), policy, _at(date(2027, 1, 15)))

    texts = post.sandbox.bot_texts(BOT, 801)
    assert first.sent == 1
    assert texts[0].startswith(
        "Hello Alice, a reminder from Acme Lending: installment 1 of 2 of your payment plan,"
        " $200.00, is due on December 10, 2026."
    )
    assert texts[1].startswith("Hello Alice, a reminder from Acme Lending: installment 2 of 2")
    assert (missed.sent, missed.deferred, midday.sent) == (0, 1, 1)
    assert texts[2].startswith(
        "Hello Alice. We have not received installment 2 of your payment plan ($200.00, due"
        " January 9, 2027). If you pay by January 14, 2027, your plan stays in place."
    )
    assert await _states(sessions, plan_id) == ("broken", ["paid", "missed"])
    # Back to the stages ("stages" is the default on_break): 56 days late is the final stage.
    assert broken.tickets_opened == 1
    async with sessions() as s:
        reasons = (await s.execute(select(HandoffTicket.reasons))).scalars().all()
    assert reasons == [["final_stage"]]


async def test_a_broken_plan_can_go_to_a_person(sessions, post):
    plan_id = await _plan(sessions, post)
    policy = POLICY.model_copy(
        update={"plans": POLICY.plans.model_copy(update={"on_break": "agent"})}
    )
    await run_cycle(sessions, post.dispatcher(), policy, _at(date(2026, 12, 20)))
    assert (await _states(sessions, plan_id))[0] == "broken"
    async with sessions() as s:
        reasons = (await s.execute(select(HandoffTicket.reasons))).scalars().all()
    assert reasons == [["plan_broken"]]


async def test_paying_everything_completes_the_plan(sessions, post):
    plan_id = await _plan(sessions, post)
    await _pay(sessions, "ACC-1", 40000, _at(date(2026, 12, 5)))
    assert await _states(sessions, plan_id) == ("completed", ["paid", "paid"])
