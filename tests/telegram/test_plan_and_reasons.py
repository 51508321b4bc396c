"""Plans, the reasons behind a delay, and handing over to a person, through the real bot."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Account, Debtor, HandoffTicket, RepaymentPlan
from tests.telegram.conftest import ALICE, WANG, World
from tests.telegram.test_promise import buttons, press, verify

# The flows' steps do not depend on the database: CI runs these on PostgreSQL only.
pytestmark = [pytest.mark.parametrize("world", ["polling"], indirect=True), pytest.mark.once]


async def tickets(world: World) -> list[tuple]:
    async with world.sessions() as s:
        rows = await s.execute(select(HandoffTicket.reasons, HandoffTicket.status))
        return [tuple(r) for r in rows]


async def test_a_plan_within_policy_is_active_at_once(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    texts = await press(world, WANG, "申请分期还款", expect=n + 1)
    assert texts[-1].startswith("您的欠款为 ¥5,600.00。您希望分几期还清？")
    texts = await press(world, WANG, "3 期，每期 ¥1,866.67", expect=n + 2)
    assert texts[-1].startswith("以下是账户 ACC-2001 的分期还款计划：")
    texts = await press(world, WANG, "确认", expect=n + 3)
    assert texts[-1].startswith("谢谢您，王小明！您与Acme Lending的分期还款计划已确认：")
    async with world.sessions() as s:
        plan = (await s.execute(select(RepaymentPlan))).scalar_one()
        await s.refresh(plan, ["installments"])
    assert (plan.status, plan.installment_count) == ("active", 3)
    assert [i.amount_minor for i in plan.installments] == [186667, 186667, 186666]
    assert await tickets(world) == []


async def test_a_longer_plan_goes_to_review(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Propose a plan", expect=n + 1)
    await press(world, ALICE, "ACC-1002 · $89.99", expect=n + 2)
    texts = await world.say(ALICE, "$10 a month", expect=n + 3)
    assert "a person from our team will review it" in texts[-1]
    # What she can pay each time, and the rest at the end: 8 of $10.00 and one of $9.99.
    assert texts[-1].count("$10.00") == 8 and texts[-1].count("$9.99") == 1
    texts = await press(world, ALICE, "Confirm", expect=n + 4)
    assert texts[-1].startswith(
        "Thank you, Alice. We have sent your proposed plan (9 payments) to a member of our team"
    )
    async with world.sessions() as s:
        plan = (await s.execute(select(RepaymentPlan))).scalar_one()
        await s.refresh(plan, ["installments"])
    assert plan.status == "review"
    assert [i.amount_minor for i in plan.installments] == [1000] * 8 + [999]
    assert "What I owe" in buttons(world, ALICE)
    assert await tickets(world) == [(["plan_review"], "open")]


async def test_can_pay_soon_pauses_reminders(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    texts = await press(world, ALICE, "I can't pay right now", expect=n + 1)
    assert texts[-1] == "We are sorry to hear that. What is making it difficult to pay?"
    await press(world, ALICE, "I can pay, but not yet", expect=n + 2)
    texts = await press(world, ALICE, "Pause reminders for 30 days", expect=n + 3)
    assert texts[-1].startswith("Thank you for telling us, Alice. We have paused our reminders")
    # The pause is agreed: the menu is under it, for whatever comes next.
    assert {"Pay ACC-1001", "What I owe", "Talk to a person"} <= set(buttons(world, ALICE))
    async with world.sessions() as s:
        debtor = (await s.execute(select(Debtor).where(Debtor.debtor_ref == "D-001"))).scalar_one()
    assert debtor.hardship_until is not None


async def test_dispute_then_complaint_join_one_ticket_and_stop_reminders(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Dispute or complaint", expect=n + 1)
    texts = await press(world, ALICE, "I do not think I owe this", expect=n + 2)
    assert texts[-1].startswith("Thank you for letting us know. We have stopped reminders")
    texts = await world.say(ALICE, "I want to talk to a person", expect=n + 3)
    assert texts[-1].startswith("Thank you for telling us. A member of the Acme Lending team")
    assert await tickets(world) == [(["dispute", "person_requested"], "open")]
    async with world.sessions() as s:
        disputed = (await s.execute(select(Account.dispute_at))).scalars().all()
    assert sum(d is not None for d in disputed) == 2


async def test_a_reported_death_stops_everything_and_discloses_nothing(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "I can't pay right now", expect=n + 1)
    texts = await press(world, ALICE, "The account holder has died", expect=n + 2)
    assert texts[-1].startswith("We are very sorry for your loss.")
    texts = await world.say(ALICE, "how much is owed?", expect=n + 3)
    assert texts[-1].startswith("We are very sorry for your loss.")
    assert "$" not in texts[-1]
    assert await tickets(world) == [(["deceased"], "open")]


async def test_three_messages_not_understood_offer_a_person(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await world.say(ALICE, "blorp", expect=n + 2)
    await world.say(ALICE, "zzz", expect=n + 4)
    texts = await world.say(ALICE, "???", expect=n + 5)
    assert texts[-1] == (
        "I am sorry I could not help with that. Would you like a person from our team to reply?"
    )
    texts = await press(world, ALICE, "Talk to a person", expect=n + 6)
    assert texts[-1].startswith("Thank you for telling us. A member of the Acme Lending team")


async def test_a_restart_between_plan_steps_loses_nothing(world: World):
    from bot.app import running
    from bot.channels.telegram.ratelimit import ChatRateLimiter

    n = await verify(world, WANG, "D-002", "2001")
    await press(world, WANG, "申请分期还款", expect=n + 1)
    await press(world, WANG, "2 期，每期 ¥2,800.00", expect=n + 2)
    await world.process_stop()

    async with running(world.settings, rate_limiter=ChatRateLimiter(), reminders=False):
        texts = await press(world, WANG, "确认", expect=n + 3)
    assert texts[-1].startswith("谢谢您，王小明！您与Acme Lending的分期还款计划已确认：")
    async with world.sessions() as s:
        plan = (await s.execute(select(RepaymentPlan))).scalar_one()
    assert (plan.status, plan.installment_count, plan.total_minor) == ("active", 2, 560000)


async def test_a_plan_amount_in_another_currency_is_asked_for_again(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    await press(world, WANG, "申请分期还款", expect=n + 1)
    texts = await world.say(WANG, "每月500美元", expect=n + 3)
    assert texts[-2] == "此账户以人民币 (CNY)计价，请用人民币 (CNY)输入金额。"
    assert texts[-1].startswith("您的欠款为 ¥5,600.00。您希望分几期还清？")
    texts = await world.say(WANG, "每月2000元", expect=n + 4)
    assert texts[-1].startswith("以下是账户 ACC-2001 的分期还款计划：")
