"""Handoff tickets: one open ticket per debtor that reasons join, even from two processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.db.engine import create_engine, session_factory
from bot.db.models import Account, AuditEvent, HandoffTicket
from bot.handoff.tickets import (
    REASONS,
    TicketError,
    TicketRow,
    list_tickets,
    open_ticket,
    resolve_ticket,
)
from tests.helpers import add_debtor

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
DUE = date(2026, 11, 1)


async def _debtor(sessions, ref: str = "D-1", accounts: int = 1) -> tuple[int, list[int]]:
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, ref, accounts=[(f"{ref}-A{i}", DUE, 10000, "USD") for i in range(1, accounts + 1)]
        )
        ids = await s.scalars(
            select(Account.id).where(Account.debtor_id == debtor.id).order_by(Account.id)
        )
        return debtor.id, list(ids)


async def _tickets(sessions) -> list[tuple[int, str, list[str], str | None]]:
    async with sessions() as s:
        rows = await s.execute(
            select(HandoffTicket.debtor_id, HandoffTicket.status, HandoffTicket.reasons,
                   HandoffTicket.note).order_by(HandoffTicket.id)
        )  # fmt: skip
        return [tuple(row) for row in rows]


async def _audit(sessions) -> list[tuple[int | None, str, str, str | None]]:
    async with sessions() as s:
        rows = await s.execute(
            select(AuditEvent.debtor_id, AuditEvent.kind, AuditEvent.actor, AuditEvent.detail)
            .order_by(AuditEvent.id)
        )  # fmt: skip
        return [tuple(row) for row in rows]


async def test_reasons_join_the_one_open_ticket(sessions):
    debtor_id, (account_id,) = await _debtor(sessions)
    later = NOW + timedelta(hours=2)

    async with sessions.begin() as s:
        first, first_created = await open_ticket(
            s, debtor_id, "dispute", now=NOW, actor="debtor", account_id=account_id,
            note="says the amount is wrong",
        )  # fmt: skip
    async with sessions.begin() as s:
        second, second_created = await open_ticket(
            s, debtor_id, "hardship", now=later, actor="staff:7", note="lost job"
        )
    async with sessions.begin() as s:
        third, third_created = await open_ticket(
            s, debtor_id, "dispute", now=later, actor="debtor"
        )

    assert (first_created, second_created, third_created) == (True, False, False)
    assert first.id == second.id == third.id
    assert (third.account_id, third.opened_at, third.updated_at) == (account_id, NOW, later)
    assert await _tickets(sessions) == [
        (
            debtor_id,
            "open",
            ["dispute", "hardship"],
            "2026-12-01 09:30Z debtor [dispute]: says the amount is wrong\n"
            "2026-12-01 11:30Z staff:7 [hardship]: lost job",
        )
    ]
    assert await _audit(sessions) == [
        (debtor_id, "ticket_opened", "debtor", f"ticket {first.id}: dispute"),
        (debtor_id, "ticket_reason_added", "staff:7", f"ticket {first.id}: hardship"),
    ]


async def test_a_final_stage_ticket_from_the_planner_is_joined(sessions):
    debtor_id, _ = await _debtor(sessions)
    async with sessions.begin() as s:
        s.add(HandoffTicket(debtor_id=debtor_id, status="open", reasons=["final_stage"],
                            opened_at=NOW, created_at=NOW, updated_at=NOW))  # fmt: skip
    async with sessions.begin() as s:
        _, created = await open_ticket(s, debtor_id, "person_requested", now=NOW, actor="debtor")
    assert created is False
    assert await _tickets(sessions) == [
        (debtor_id, "open", ["final_stage", "person_requested"], None)
    ]


async def test_unknown_reasons_debtors_and_foreign_accounts_are_refused(sessions):
    debtor_id, _ = await _debtor(sessions, "D-1")
    _, (other_account,) = await _debtor(sessions, "D-2")
    async with sessions.begin() as s:
        with pytest.raises(TicketError, match="unknown reason 'angry'"):
            await open_ticket(s, debtor_id, "angry", now=NOW, actor="debtor")
        with pytest.raises(TicketError, match="no debtor 999"):
            await open_ticket(s, 999, "dispute", now=NOW, actor="debtor")
        with pytest.raises(TicketError, match="is not an account of debtor"):
            await open_ticket(
                s, debtor_id, "dispute", now=NOW, actor="debtor", account_id=other_account
            )
    assert "final_stage" in REASONS
    assert await _tickets(sessions) == []


async def test_concurrent_opens_in_separate_sessions_make_one_ticket(sessions):
    debtor_id, _ = await _debtor(sessions)
    reasons = ["dispute", "hardship", "complaint", "person_requested"]

    async def one(reason: str) -> bool:
        async with sessions.begin() as s:
            _, created = await open_ticket(s, debtor_id, reason, now=NOW, actor="debtor")
            return created

    created = await asyncio.gather(*(one(reason) for reason in reasons))

    assert sorted(created) == [False, False, False, True]
    [(ticket_debtor, status, joined, _)] = await _tickets(sessions)
    assert (ticket_debtor, status, sorted(joined)) == (debtor_id, "open", sorted(reasons))


async def _until_waiting(engine: AsyncEngine) -> None:
    """Return once another session waits for the first one's transaction."""
    if engine.dialect.name != "postgresql":
        # SQLite: the second transaction waits to begin; there is nothing to observe.
        await asyncio.sleep(0.3)
        return
    for _ in range(200):
        async with engine.connect() as conn:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query ILIKE '%handoff_ticket%'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the second session never waited for the first")


async def test_an_insert_that_loses_the_race_joins_the_winner(engine, sessions):
    debtor_id, _ = await _debtor(sessions)

    async def second() -> tuple[int, bool]:
        async with sessions.begin() as s:
            ticket, created = await open_ticket(s, debtor_id, "hardship", now=NOW, actor="debtor")
            return ticket.id, created

    async with sessions.begin() as s:
        first, _ = await open_ticket(s, debtor_id, "dispute", now=NOW, actor="debtor")
        # On PostgreSQL the second session cannot see this ticket yet and blocks on the
        # unique index until this transaction commits, then fails and joins.
        task = asyncio.create_task(second())
        await _until_waiting(engine)

    assert await task == (first.id, False)
    assert await _tickets(sessions) == [(debtor_id, "open", ["dispute", "hardship"], None)]


async def test_resolving_closes_the_ticket_and_a_new_reason_opens_another(sessions):
    debtor_id, _ = await _debtor(sessions)
    async with sessions.begin() as s:
        first, _ = await open_ticket(s, debtor_id, "complaint", now=NOW, actor="debtor")
    async with sessions.begin() as s:
        resolved = await resolve_ticket(
            s, first.id, now=NOW + timedelta(hours=1), actor="staff:3", resolution="apologised"
        )
    async with sessions.begin() as s:
        with pytest.raises(TicketError, match=f"ticket {first.id} is already resolved"):
            await resolve_ticket(s, first.id, now=NOW, actor="staff:3", resolution="again")
        with pytest.raises(TicketError, match="no ticket 999"):
            await resolve_ticket(s, 999, now=NOW, actor="staff:3", resolution="none")
    async with sessions.begin() as s:
        second, created = await open_ticket(s, debtor_id, "complaint", now=NOW, actor="debtor")

    assert (resolved.status, resolved.resolution) == ("resolved", "apologised")
    assert resolved.resolved_at == NOW + timedelta(hours=1)
    assert (created, second.id != first.id) == (True, True)
    assert [status for _, status, _, _ in await _tickets(sessions)] == ["resolved", "open"]
    assert [kind for _, kind, _, _ in await _audit(sessions)] == [
        "ticket_opened", "ticket_resolved", "ticket_opened",
    ]  # fmt: skip


async def test_list_tickets_filters_by_status_oldest_first(sessions):
    one, (account,) = await _debtor(sessions, "D-1")
    two, _ = await _debtor(sessions, "D-2")
    three, _ = await _debtor(sessions, "D-3")
    async with sessions.begin() as s:
        await open_ticket(s, two, "hardship", now=NOW + timedelta(minutes=5), actor="debtor")
        await open_ticket(s, one, "dispute", now=NOW, actor="debtor", account_id=account)
        done, _ = await open_ticket(s, three, "deceased", now=NOW, actor="import")
        await resolve_ticket(s, done.id, now=NOW, actor="staff:1", resolution="closed")

    async with sessions() as s:
        default = await list_tickets(s)
        everything = await list_tickets(s, "all")
        resolved = await list_tickets(s, "resolved")
        with pytest.raises(TicketError, match="unknown status 'later'"):
            await list_tickets(s, "later")

    assert [(t.debtor_ref, t.account_ref, t.reasons) for t in default] == [
        ("D-1", "D-1-A1", ["dispute"]),
        ("D-2", None, ["hardship"]),
    ]
    assert [t.debtor_ref for t in everything] == ["D-1", "D-3", "D-2"]
    assert resolved == [TicketRow(done.id, NOW, "resolved", "D-3", None, ["deceased"])]


async def _seed_for_cli(url: str) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        one, (account,) = await _debtor(sessions, "D-1")
        two, _ = await _debtor(sessions, "DEBTOR-LONG-REF")
        three, _ = await _debtor(sessions, "D-3")
        async with sessions.begin() as s:
            await open_ticket(s, one, "dispute", now=NOW, actor="debtor", account_id=account)
            await open_ticket(s, one, "hardship", now=NOW, actor="debtor")
            await open_ticket(s, two, "final_stage", now=NOW + timedelta(days=1), actor="system")
            done, _ = await open_ticket(s, three, "complaint", now=NOW, actor="debtor")
            await resolve_ticket(s, done.id, now=NOW, actor="staff:1", resolution="ok")
    finally:
        await engine.dispose()


def test_tickets_list_prints_an_aligned_table(cli_env, capsys):
    asyncio.run(_seed_for_cli(cli_env))

    assert main(["tickets", "list"]) == 0
    assert capsys.readouterr().out == (
        "id  opened (UTC)      status  debtor_ref       account_ref  reasons\n"
        "1   2026-12-01 09:30  open    D-1              D-1-A1       dispute,hardship\n"
        "2   2026-12-02 09:30  open    DEBTOR-LONG-REF  -            final_stage\n"
        "2 ticket(s)\n"
    )

    assert main(["tickets", "list", "--status", "resolved"]) == 0
    assert capsys.readouterr().out == (
        "id  opened (UTC)      status    debtor_ref  account_ref  reasons\n"
        "3   2026-12-01 09:30  resolved  D-3         -            complaint\n"
        "1 ticket(s)\n"
    )

    assert main(["tickets", "list", "--status", "claimed"]) == 0
    assert capsys.readouterr().out == "0 ticket(s)\n"
