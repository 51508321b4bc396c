"""Claims: one agent at a time, as a lease; released when it runs out, reassigned by admins,
resolved or handed back by the holder, each change audited and published to consoles."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.db.engine import create_engine, session_factory
from bot.db.models import HandoffTicket
from bot.handoff import claims
from bot.handoff.tickets import TicketError, open_ticket
from bot.reminders.planner import plan
from tests.handoff.conftest import NOW, POLICY, add_staff, audits, debtor_with_ticket, events
from tests.helpers import add_debtor

LEASE = timedelta(minutes=POLICY.handoff.lease_minutes)


async def _ticket(sessions, ticket_id: int) -> HandoffTicket:
    async with sessions() as s:
        return await s.get(HandoffTicket, ticket_id)


async def test_of_many_agents_claiming_at_once_exactly_one_wins(sessions, database_url):
    _, ticket_id = await debtor_with_ticket(sessions)
    agents = [await add_staff(sessions, f"agent{i}", name=f"Agent {i}") for i in range(12)]
    # Each claimer on its own engine: its own connections, as separate processes would be.
    engines = [create_engine(database_url) for _ in agents]
    try:

        async def press(staff_id: int, engine) -> claims.Claim:
            async with session_factory(engine).begin() as s:
                return await claims.claim(s, ticket_id, staff_id, NOW, POLICY)

        pairs = zip(agents, engines, strict=True)
        results = await asyncio.gather(*(press(a, e) for a, e in pairs))
    finally:
        for engine in engines:
            await engine.dispose()

    winners = [r for r in results if r.won]
    assert len(winners) == 1
    winner = winners[0].holder_id
    # Every loser was told who holds it.
    assert {(r.holder_id, r.holder_name) for r in results if not r.won} == {
        (winner, f"Agent {agents.index(winner)}")
    }
    ticket = await _ticket(sessions, ticket_id)
    assert (ticket.status, ticket.claimed_by, ticket.claimed_at, ticket.lease_until) == (
        "claimed", winner, NOW, NOW + LEASE,
    )  # fmt: skip
    assert await audits(sessions, "ticket_claimed") == [
        ("ticket_claimed", f"staff:{winner}", f"ticket {ticket_id}")
    ]
    claimed = await events(sessions, "ticket_claimed")
    assert claimed == [
        ("ticket_claimed", ticket_id, ticket.debtor_id,
         {"staff_id": winner, "staff_name": f"Agent {agents.index(winner)}"}),
    ]  # fmt: skip


async def test_agents_taking_the_next_ticket_at_once_each_get_a_different_one(
    sessions, database_url
):
    tickets = []
    for i in range(4):
        _, ticket_id = await debtor_with_ticket(
            sessions, f"D-{i}", chat_id=9000 + i, at=NOW - timedelta(minutes=10 - i)
        )
        tickets.append(ticket_id)
    agents = [await add_staff(sessions, f"agent{i}", name=f"Agent {i}") for i in range(7)]
    engines = [create_engine(database_url) for _ in agents]
    try:

        async def take(staff_id: int, engine) -> claims.Claim:
            async with session_factory(engine).begin() as s:
                return await claims.claim_next(s, staff_id, NOW, POLICY)

        results = await asyncio.gather(*(take(a, e) for a, e in zip(agents, engines, strict=True)))
    finally:
        for engine in engines:
            await engine.dispose()
    won = sorted(r.ticket_id for r in results if r.won)
    assert won == tickets  # every ticket once, nobody twice
    assert [r for r in results if not r.won] == [claims.Claim(False, None, None, None)] * 3
    assert len(await audits(sessions, "ticket_claimed")) == 4
    async with sessions.begin() as s:
        assert (await claims.claim_next(s, agents[0], NOW, POLICY)).won is False


async def test_the_next_ticket_is_the_oldest_waiting(sessions):
    _, newer = await debtor_with_ticket(sessions, "D-1", chat_id=9001, at=NOW)
    _, older = await debtor_with_ticket(sessions, "D-2", chat_id=9002, at=NOW - timedelta(hours=1))
    ada = await add_staff(sessions, "ada", name="Ada")
    async with sessions.begin() as s:
        first = await claims.claim_next(s, ada, NOW, POLICY)
        second = await claims.claim_next(s, ada, NOW, POLICY)
    assert (first.ticket_id, first.holder_name, second.ticket_id) == (older, "Ada", newer)


async def test_the_holder_claiming_again_renews_the_lease_and_nobody_else_can(sessions):
    _, ticket_id = await debtor_with_ticket(sessions)
    ada, brian = await add_staff(sessions, "ada"), await add_staff(sessions, "brian")
    later = NOW + timedelta(minutes=10)
    async with sessions.begin() as s:
        assert (await claims.claim(s, ticket_id, ada, NOW, POLICY)).won
    async with sessions.begin() as s:
        again = await claims.claim(s, ticket_id, ada, later, POLICY)
        assert (await claims.claim(s, ticket_id, brian, later, POLICY)).won is False
        assert await claims.renew(s, ticket_id, brian, later, POLICY) is False
    assert (again.won, again.holder_id) == (True, ada)
    ticket = await _ticket(sessions, ticket_id)
    assert (ticket.claimed_by, ticket.claimed_at, ticket.lease_until) == (ada, NOW, later + LEASE)
    assert len(await audits(sessions, "ticket_claimed")) == 1


async def test_a_lease_nobody_renews_goes_back_to_the_queue_on_the_clock(sessions):
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    ada, brian = await add_staff(sessions, "ada"), await add_staff(sessions, "brian")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
    # Activity renews it: five minutes in, the lease runs from then.
    async with sessions.begin() as s:
        assert await claims.renew(s, ticket_id, ada, NOW + timedelta(minutes=5), POLICY)
    async with sessions.begin() as s:
        assert await claims.release_expired(s, NOW + LEASE + timedelta(minutes=1)) == []
    assert (await _ticket(sessions, ticket_id)).status == "claimed"

    expired = NOW + timedelta(minutes=5) + LEASE + timedelta(seconds=1)
    async with sessions.begin() as s:
        assert await claims.release_expired(s, expired) == [ticket_id]
        assert await claims.release_expired(s, expired) == []
    ticket = await _ticket(sessions, ticket_id)
    assert (ticket.status, ticket.claimed_by, ticket.lease_until) == ("open", None, None)
    assert await audits(sessions, "claim_expired") == [
        ("claim_expired", "system", f"ticket {ticket_id}: staff:{ada}")
    ]
    assert (await events(sessions, "ticket_released")) == [
        ("ticket_released", ticket_id, debtor_id, {"why": "expired"})
    ]
    # Ada is too late now; Brian may take it.
    async with sessions.begin() as s:
        assert await claims.renew(s, ticket_id, ada, expired, POLICY) is False
        assert (await claims.claim(s, ticket_id, brian, expired, POLICY)).won


async def test_a_claim_on_an_expired_lease_takes_it_over_before_the_ticker_does(sessions):
    _, ticket_id = await debtor_with_ticket(sessions)
    ada, brian = await add_staff(sessions, "ada"), await add_staff(sessions, "brian")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
    async with sessions.begin() as s:
        early = await claims.claim(s, ticket_id, brian, NOW + LEASE, POLICY)
    async with sessions.begin() as s:
        late = await claims.claim(s, ticket_id, brian, NOW + LEASE + timedelta(seconds=1), POLICY)
    assert (early.won, early.holder_id, late.won, late.holder_id) == (False, ada, True, brian)
    assert [kind for kind, _, _ in await audits(sessions)][-3:] == [
        "ticket_claimed", "claim_expired", "ticket_claimed",
    ]  # fmt: skip


async def test_the_holder_releases_and_others_cannot(sessions):
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    ada, brian = await add_staff(sessions, "ada"), await add_staff(sessions, "brian")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
        assert await claims.release(s, ticket_id, brian, NOW) is False
        assert await claims.release(s, ticket_id, ada, NOW) is True
    assert (await _ticket(sessions, ticket_id)).status == "open"
    assert (await audits(sessions, "ticket_released")) == [
        ("ticket_released", f"staff:{ada}", f"ticket {ticket_id}: staff:{ada}")
    ]
    assert (await events(sessions, "ticket_released"))[-1] == (
        "ticket_released", ticket_id, debtor_id, {"why": "released"},
    )  # fmt: skip


async def test_an_admin_reassigns_a_ticket(sessions):
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    ada, brian = await add_staff(sessions, "ada"), await add_staff(sessions, "brian", name="Bri")
    grace = await add_staff(sessions, "grace", role="admin")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
        row = await s.get(HandoffTicket, ticket_id)
        row.team_notice_at = NOW  # the debtor was told a person is with them
    later = NOW + timedelta(minutes=3)
    async with sessions.begin() as s:
        await claims.reassign(s, ticket_id, brian, grace, later, POLICY)
    ticket = await _ticket(sessions, ticket_id)
    assert (ticket.status, ticket.claimed_by, ticket.claimed_at, ticket.lease_until) == (
        "claimed", brian, later, later + LEASE,
    )  # fmt: skip
    assert ticket.team_notice_at == NOW  # still a person with them: not told twice
    assert await audits(sessions, "ticket_reassigned") == [
        ("ticket_reassigned", f"staff:{grace}",
         f"ticket {ticket_id}: staff:{ada} -> staff:{brian}"),
    ]  # fmt: skip
    assert (await events(sessions, "ticket_released", "ticket_claimed"))[-2:] == [
        ("ticket_released", ticket_id, debtor_id, {"why": "reassigned"}),
        ("ticket_claimed", ticket_id, debtor_id, {"staff_id": brian, "staff_name": "Bri"}),
    ]
    # Ada lost it; a disabled colleague cannot take it.
    async with sessions.begin() as s:
        assert await claims.renew(s, ticket_id, ada, later, POLICY) is False
        user = await s.get(claims.StaffUser, ada)
        user.disabled_at = later
    with pytest.raises(TicketError, match="cannot take tickets"):
        async with sessions.begin() as s:
            await claims.reassign(s, ticket_id, ada, grace, later, POLICY)


async def test_the_holder_resolves_with_an_outcome_and_the_ticket_is_closed(sessions):
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    ada, brian = await add_staff(sessions, "ada"), await add_staff(sessions, "brian")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
    with pytest.raises(TicketError, match="unknown outcome"):
        async with sessions.begin() as s:
            await claims.resolve(s, ticket_id, ada, "handed_back", "", NOW)
    with pytest.raises(TicketError, match="holding this ticket"):
        async with sessions.begin() as s:
            await claims.resolve(s, ticket_id, brian, "paid_in_full", "", NOW)
    async with sessions.begin() as s:
        await claims.resolve(s, ticket_id, ada, "promise_recorded", " Pays on Friday. ", NOW)

    ticket = await _ticket(sessions, ticket_id)
    assert (ticket.status, ticket.outcome, ticket.resolution, ticket.resolved_at) == (
        "resolved", "promise_recorded", "Pays on Friday.", NOW,
    )  # fmt: skip
    assert (ticket.claimed_by, ticket.lease_until) == (ada, None)
    assert (await audits(sessions, "ticket_resolved")) == [
        ("ticket_resolved", f"staff:{ada}", f"ticket {ticket_id}: promise_recorded")
    ]
    assert (await events(sessions, "ticket_resolved")) == [
        ("ticket_resolved", ticket_id, debtor_id, {"outcome": "promise_recorded"})
    ]
    with pytest.raises(TicketError, match="already resolved"):
        async with sessions.begin() as s:
            await claims.claim(s, ticket_id, brian, NOW, POLICY)
    with pytest.raises(TicketError, match="no ticket"):
        async with sessions.begin() as s:
            await claims.claim(s, ticket_id + 1, brian, NOW, POLICY)


@pytest.mark.parametrize(
    ("locale", "start"),
    [("en_US", "Thank you for talking with our team."), ("zh_CN", "感谢您与我们的工作人员沟通。")],
)
async def test_hand_back_resolves_and_says_so_in_the_debtors_language(sessions, locale, start):
    _, ticket_id = await debtor_with_ticket(sessions, locale=locale)
    ada = await add_staff(sessions, "ada")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
        (message,) = await claims.hand_back(s, ticket_id, ada, NOW, "Acme Lending")
    assert message.text.startswith(start) and "Acme Lending" in message.text
    assert message.template_key == "handed_back"
    assert [[b.data for b in row] for row in message.buttons] == [["menu:balance"]]
    ticket = await _ticket(sessions, ticket_id)
    assert (ticket.status, ticket.outcome) == ("resolved", "handed_back")


async def test_opening_and_joining_tickets_and_the_planner_publish_events(sessions):
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    async with sessions.begin() as s:
        await open_ticket(s, debtor_id, "dispute", now=NOW, actor="debtor")
        # Far past due, linked and verified: the planner hands them to people.
        late = await add_debtor(
            s, "D-9", accounts=[("D-9-A", date(2026, 9, 1), 5000, "USD")], chat_id=9999, at=NOW
        )
    async with sessions.begin() as s:
        report = await plan(s, POLICY, NOW)
    assert report.tickets_opened == 1
    async with sessions() as s:
        opened = await s.scalar(select(HandoffTicket.id).where(HandoffTicket.debtor_id == late.id))
    assert opened is not None
    assert await events(sessions) == [
        ("ticket_opened", ticket_id, debtor_id, {}),
        ("ticket_changed", ticket_id, debtor_id, {}),
        ("ticket_opened", None, None, {"count": 1}),
    ]
