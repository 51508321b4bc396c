"""A full portfolio file that leaves accounts out withdraws them: reminders about them stop,
a promise on one ends with one polite message sent through the dispatcher, and an open
ticket of the debtor gets a note for the agent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.accounts.importer import Book, FullFileRefused
from bot.db.models import (
    Account,
    AuditEvent,
    ChannelLink,
    Debtor,
    HandoffTicket,
    Promise,
    ReminderOutbox,
)
from bot.handoff.tickets import open_ticket
from bot.policy import load_policy
from bot.reminders.planner import plan
from bot.services.cycle import run_cycle
from bot.services.portfolio import import_portfolio
from tests.helpers import ACCOUNT_HEADER, write_csv
from tests.reminders.conftest import BOT

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
NAMES = {"D-001": "Alice Martin", "D-002": "Bob Stone", "D-003": "Carol King"}
CHATS = {"D-001": 701, "D-002": 702, "D-003": 703}
# ACC-1: Alice's, with an open promise; ACC-2: Alice's, not due yet; ACC-3: Bob's, who has an
# open ticket; ACC-4: Carol's, due a reminder today; ACC-5 to ACC-15: one debtor each.
BOOK = [
    ("ACC-1", "D-001", "2026-11-20"),
    ("ACC-2", "D-001", "2026-12-20"),
    ("ACC-3", "D-002", "2026-11-20"),
    ("ACC-4", "D-003", "2026-11-20"),
] + [(f"ACC-{n}", f"D-{n:03}", "2026-12-20") for n in range(5, 16)]
WITHDRAWN = {"ACC-1", "ACC-3", "ACC-4"}  # 3 of 15: exactly the 20 % a full file may take


def _file(tmp_path, name: str, leave_out: set[str] = frozenset()) -> object:
    lines = [
        f"{ref},{debtor},{NAMES.get(debtor, 'Dana Lee')},+1 212 555 {int(debtor[2:]):04},en_US,"
        f"America/New_York,USD,250.00,{due},,Personal loan\n"
        for ref, debtor, due in BOOK
        if ref not in leave_out
    ]
    return write_csv(tmp_path / name, ACCOUNT_HEADER + "".join(lines))


async def _import(sessions, path, at: datetime, **book):
    return await import_portfolio(
        sessions, path, region="US", policy=POLICY, link_ttl=timedelta(days=30),
        book=Book(full=True, **book), clock=lambda: at,
    )  # fmt: skip


async def _accounts(sessions) -> dict[str, tuple]:
    async with sessions() as s:
        rows = await s.execute(
            select(Account.account_ref, Account.status, Account.closed_reason, Account.closed_at)
        )
        return {ref: tuple(rest) for ref, *rest in rows}


async def _book_with_a_promise_a_ticket_and_a_reminder(sessions, post, tmp_path) -> dict:
    report = await _import(sessions, _file(tmp_path, "monday.csv"), NOW - timedelta(days=1))
    assert (report.created, report.withdrawn, report.errors) == (15, 0, [])
    post.started(*CHATS.values())
    async with sessions.begin() as s:
        debtors = {
            d.debtor_ref: d
            for d in (
                await s.execute(select(Debtor).where(Debtor.debtor_ref.in_(CHATS)))
            ).scalars()
        }
        for ref, chat_id in CHATS.items():
            s.add(
                ChannelLink(
                    debtor_id=debtors[ref].id, channel="telegram", chat_id=chat_id,
                    user_id=chat_id, linked_at=NOW, failed_attempts=0, verified_at=NOW,
                    verify_method="knowledge",
                )
            )  # fmt: skip
        acc1 = (
            await s.execute(select(Account).where(Account.account_ref == "ACC-1"))
        ).scalar_one()
        promise = Promise(
            debtor_id=debtors["D-001"].id, account_id=acc1.id, amount_minor=25000,
            currency="USD", promised_date=date(2026, 12, 4), status="open", paid_minor=0,
            source="debtor", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        s.add(promise)
        ticket, _ = await open_ticket(s, debtors["D-002"].id, "hardship", now=NOW, actor="debtor")
        await s.flush()
        # Today's reminders are planned but not yet sent when the new file arrives.
        planned = await plan(s, POLICY, NOW)
    assert planned.planned == 1
    return {
        "promise": promise.id,
        "ticket": ticket.id,
        "debtors": {r: d.id for r, d in debtors.items()},
    }


async def test_a_full_file_withdraws_what_it_leaves_out(sessions, post, tmp_path):
    ids = await _book_with_a_promise_a_ticket_and_a_reminder(sessions, post, tmp_path)

    report = await _import(sessions, _file(tmp_path, "tuesday.csv", WITHDRAWN), NOW)

    assert (report.created, report.updated, report.unchanged) == (0, 0, 12)
    assert (report.withdrawn, report.held, report.errors) == (3, None, [])
    accounts = await _accounts(sessions)
    assert {ref for ref, (status, *_) in accounts.items() if status == "closed"} == WITHDRAWN
    assert accounts["ACC-1"] == ("closed", "withdrawn", NOW)
    assert accounts["ACC-2"] == ("open", None, None)
    async with sessions() as s:
        promise = await s.get(Promise, ids["promise"])
        ticket = await s.get(HandoffTicket, ids["ticket"])
        audits = sorted(
            (kind, actor, detail)
            for kind, actor, detail in await s.execute(
                select(AuditEvent.kind, AuditEvent.actor, AuditEvent.detail).where(
                    AuditEvent.kind.in_(["account_withdrawn", "promise_withdrawn"])
                )
            )
        )
    assert (promise.status, promise.resolved_at) == ("cancelled", NOW)
    assert ticket.status == "open"
    assert ticket.note.splitlines()[-1].endswith(
        "account(s) ACC-3 withdrawn by the creditor (left out of a full file)"
    )
    assert audits == [
        ("account_withdrawn", "import", f"account {ref}: left out of a full portfolio file")
        for ref in sorted(WITHDRAWN)
    ] + [("promise_withdrawn", "import", f"promise {ids['promise']}: account ACC-1 withdrawn")]

    # The dispatcher sends the one message and not the reminder planned before the file came;
    # for ten more days nothing about the withdrawn accounts is planned or sent.
    first = await run_cycle(sessions, post.dispatcher(), POLICY, NOW)
    later = [
        await run_cycle(sessions, post.dispatcher(), POLICY, NOW + timedelta(days=d))
        for d in range(1, 11)
    ]

    assert (first.sent, dict(first.skipped).get("superseded")) == (1, 1)
    assert sum(c.sent + c.planned for c in later) == 0
    assert post.sandbox.bot_texts(BOT, CHATS["D-001"]) == [
        "Alice, Acme Lending has let us know that account ACC-1 is no longer handled through"
        " this chat, so your promise to pay it has been cancelled. There is nothing more you"
        " need to do here about this account. If you have any questions about it, please"
        " contact Acme Lending directly.\n\nTo stop these reminders, reply STOP."
    ]
    assert post.sandbox.bot_texts(BOT, CHATS["D-002"]) == []
    assert post.sandbox.bot_texts(BOT, CHATS["D-003"]) == []
    async with sessions() as s:
        outbox = sorted(
            (kind, status)
            for kind, status in await s.execute(select(ReminderOutbox.kind, ReminderOutbox.status))
        )
    assert outbox == [("account_withdrawn", "sent"), ("stage", "skipped")]

    # The same file again withdraws nothing more and sends nothing more.
    again = await _import(sessions, _file(tmp_path, "tuesday.csv", WITHDRAWN), NOW)
    assert (again.withdrawn, again.unchanged) == (0, 12)
    await run_cycle(sessions, post.dispatcher(), POLICY, NOW + timedelta(hours=1))
    assert len(post.sandbox.bot_texts(BOT, CHATS["D-001"])) == 1


async def test_a_truncated_full_file_is_refused_without_yes(sessions, tmp_path):
    await _import(sessions, _file(tmp_path, "book.csv"), NOW - timedelta(days=1))
    before = await _accounts(sessions)
    truncated = {ref for ref, _, _ in BOOK[4:]}  # an export cut off after four accounts

    with pytest.raises(FullFileRefused) as refused:
        await _import(sessions, _file(tmp_path, "cut.csv", truncated), NOW)

    assert str(refused.value).startswith(
        "this full file leaves out 11 of the 15 open accounts (73%), more than the 20% a full"
        " file may withdraw; nothing was imported."
    )
    assert await _accounts(sessions) == before
    async with sessions() as s:
        assert (await s.execute(select(AuditEvent.kind))).scalars().all() == []
    # A lower limit refuses less; --yes withdraws them as asked.
    with pytest.raises(FullFileRefused):
        await _import(sessions, _file(tmp_path, "cut.csv", {"ACC-5", "ACC-6"}), NOW,
                      max_withdrawn=0.1)  # fmt: skip
    report = await _import(sessions, _file(tmp_path, "cut.csv", truncated), NOW, confirmed=True)
    assert report.withdrawn == 11
    assert sum(status == "open" for status, *_ in (await _accounts(sessions)).values()) == 4
