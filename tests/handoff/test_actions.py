"""What an agent records on the debtor's behalf: the chat flows' rules, audited as the agent,
each telling consoles; and notes, and what the holder has read."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.db.models import (
    Account,
    Debtor,
    HandoffTicket,
    Promise,
    RepaymentPlan,
    StaffNote,
)
from bot.handoff import claims
from bot.handoff.tickets import TicketError
from bot.policy.window import day_number
from bot.reminders.holds import debtor_reason
from bot.services import agent
from tests.handoff.conftest import NOW, POLICY, add_staff, audits, debtor_with_ticket, events

TODAY = date(2026, 12, 1)  # in New York at NOW


@pytest.fixture
async def held(sessions) -> tuple[int, int, int, int]:
    """(debtor, ticket, account, ada): a ticket Ada holds."""
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    ada = await add_staff(sessions, "ada")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
        account_id = await s.scalar(select(Account.id).where(Account.debtor_id == debtor_id))
    return debtor_id, ticket_id, account_id, ada


async def _reason(sessions, debtor_id: int) -> str | None:
    """Why the debtor gets no reminder today (the claim aside)."""
    policy = POLICY.model_copy(update={"holds": POLICY.holds.model_copy(update={
        "open_ticket": False})})  # fmt: skip
    async with sessions() as s:
        found = await s.execute(
            debtor_reason(policy, day_number(TODAY), debtor_id, ignore=("ticket_claimed",))
        )
        return found.scalar()


@pytest.mark.parametrize(
    ("amount", "day", "problem"),
    [
        (5000, TODAY - timedelta(days=1), "The date is in the past (in the debtor's time zone)."),
        (5000, TODAY + timedelta(days=31),
         "A promise may be at most 30 days ahead (2026-12-31)."),
        (999, TODAY, "A promise must be for at least 10% of what is owed."),
        (10001, TODAY, "The amount is more than is owed on this account."),
    ],
)  # fmt: skip
async def test_a_promise_breaking_the_chat_rules_is_refused(sessions, held, amount, day, problem):
    _, ticket_id, account_id, ada = held
    with pytest.raises(agent.Refused, match=f"^{re.escape(problem)}$"):
        async with sessions.begin() as s:
            await agent.record_promise(
                s, ticket_id, ada, account_id=account_id, amount_minor=amount,
                promised_date=day, now=NOW, policy=POLICY,
            )  # fmt: skip
    async with sessions() as s:
        assert (await s.scalars(select(Promise))).all() == []


async def test_a_promise_on_the_debtors_behalf_is_theirs_from_the_agent(sessions, held):
    debtor_id, ticket_id, account_id, ada = held
    async with sessions.begin() as s:
        promise = await agent.record_promise(
            s, ticket_id, ada, account_id=account_id, amount_minor=5000,
            promised_date=TODAY + timedelta(days=4), now=NOW, policy=POLICY,
        )  # fmt: skip
    assert (promise.source, promise.amount_minor, promise.status) == (f"staff:{ada}", 5000, "open")
    assert (await audits(sessions, "promise_made"))[0][:2] == ("promise_made", f"staff:{ada}")
    assert (await events(sessions, "ticket_changed"))[-1] == (
        "ticket_changed", ticket_id, debtor_id, {},
    )  # fmt: skip
    assert await _reason(sessions, debtor_id) == "open_promise"


async def test_a_plan_on_the_debtors_behalf_within_the_policy(sessions, held):
    _, ticket_id, account_id, ada = held
    with pytest.raises(agent.Refused, match="from 2 to 6 installments"):
        async with sessions.begin() as s:
            await agent.record_plan(
                s, ticket_id, ada, account_id=account_id, installments=7, now=NOW, policy=POLICY
            )
    async with sessions.begin() as s:
        plan = await agent.record_plan(
            s, ticket_id, ada, account_id=account_id, installments=3, now=NOW, policy=POLICY
        )
    async with sessions() as s:
        stored = await s.get(RepaymentPlan, plan.id)
        await s.refresh(stored, ["installments"])
    assert (stored.status, stored.source, stored.total_minor) == ("active", f"staff:{ada}", 10000)
    assert [(i.due_date, i.amount_minor) for i in stored.installments] == [
        (date(2026, 12, 8), 3334), (date(2027, 1, 7), 3333), (date(2027, 2, 6), 3333),
    ]  # fmt: skip


async def test_holds_set_by_the_agent_stop_reminders_and_are_audited(sessions, held):
    debtor_id, ticket_id, _, ada = held
    with pytest.raises(agent.Refused, match="30 days at most"):
        async with sessions.begin() as s:
            await agent.pause_hardship(
                s, ticket_id, ada, until=TODAY + timedelta(days=31), now=NOW, policy=POLICY
            )
    async with sessions.begin() as s:
        await agent.pause_hardship(
            s, ticket_id, ada, until=TODAY + timedelta(days=30), now=NOW, policy=POLICY
        )
    assert await _reason(sessions, debtor_id) == "hardship"

    async with sessions.begin() as s:
        (await s.get(Debtor, debtor_id)).hardship_until = None
        await agent.decide_dispute(s, ticket_id, ada, upheld=True, now=NOW, policy=POLICY)
    assert await _reason(sessions, debtor_id) == "dispute"
    async with sessions.begin() as s:
        await agent.decide_dispute(s, ticket_id, ada, upheld=False, now=NOW, policy=POLICY)
    assert await _reason(sessions, debtor_id) is None
    async with sessions() as s:
        assert (await s.scalars(select(Account.dispute_at))).all() == [None]

    async with sessions.begin() as s:
        await agent.cease_communication(s, ticket_id, ada, now=NOW, policy=POLICY)
    assert await _reason(sessions, debtor_id) == "cease"
    async with sessions.begin() as s:
        await agent.confirm_death(s, ticket_id, ada, now=NOW, policy=POLICY)
    async with sessions() as s:
        debtor = await s.get(Debtor, debtor_id)
    assert (debtor.deceased_at, debtor.cease_at) == (NOW, NOW)

    kinds = ["hardship_pause", "dispute_upheld", "dispute_rejected", "cease_communication",
             "deceased_confirmed"]  # fmt: skip
    assert [(k, a) for k, a, _ in await audits(sessions, *kinds)] == [
        (k, f"staff:{ada}") for k in kinds
    ]
    assert len(await events(sessions, "ticket_changed")) == 5


async def test_only_the_holder_acts_and_each_action_renews_the_lease(sessions, held):
    _, ticket_id, _, ada = held
    brian = await add_staff(sessions, "brian")
    with pytest.raises(TicketError, match="holding this ticket"):
        async with sessions.begin() as s:
            await agent.cease_communication(s, ticket_id, brian, now=NOW, policy=POLICY)
    later = NOW + timedelta(minutes=9)
    async with sessions.begin() as s:
        await agent.cease_communication(s, ticket_id, ada, now=later, policy=POLICY)
    async with sessions() as s:
        ticket = await s.get(HandoffTicket, ticket_id)
    lease = timedelta(minutes=POLICY.handoff.lease_minutes)
    assert ticket.lease_until == later + lease


async def test_notes_are_kept_private_and_what_the_holder_read_is_marked(sessions, held):
    debtor_id, ticket_id, _, ada = held
    brian = await add_staff(sessions, "brian")
    with pytest.raises(TicketError, match="needs some text"):
        async with sessions.begin() as s:
            await agent.add_note(s, ticket_id, ada, "   ", NOW, POLICY)
    later = NOW + timedelta(minutes=7)
    async with sessions.begin() as s:
        note = await agent.add_note(s, ticket_id, ada, " Call back after 5pm ", later, POLICY)
        await agent.add_note(s, None, brian, "Knows the family", NOW, POLICY, debtor_id=debtor_id)
    async with sessions() as s:
        kept = [(n.ticket_id, n.staff_id, n.text) for n in await s.scalars(select(StaffNote))]
        lease_until = (await s.get(HandoffTicket, ticket_id)).lease_until
    assert kept == [(ticket_id, ada, "Call back after 5pm"), (None, brian, "Knows the family")]
    assert lease_until == later + timedelta(minutes=POLICY.handoff.lease_minutes)
    assert (await events(sessions, "note"))[0] == (
        "note", ticket_id, debtor_id, {"note_id": note.id},
    )  # fmt: skip
    assert [k for k, _, _ in await audits(sessions, "note_added")] == ["note_added"] * 2

    async with sessions.begin() as s:
        assert await agent.mark_seen(s, ticket_id, ada, 12) is True
        assert await agent.mark_seen(s, ticket_id, ada, 7) is False  # never goes back
        assert await agent.mark_seen(s, ticket_id, brian, 20) is False  # not the holder
    async with sessions() as s:
        assert (await s.get(HandoffTicket, ticket_id)).seen_log_id == 12
