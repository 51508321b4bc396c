"""`nudgebot remind --at` writes the instant it was given, never the real time, in every row."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from bot.cli import main
from bot.db.models import Payment, PlanInstallment, Promise, RepaymentPlan
from tests.helpers import add_debtor, written_times
from tests.reminders.conftest import BOT, TOKEN

# A Monday, 10:00 in London and 11:00 in Berlin: far from the real time of any run.
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
TODAY = AT.date()
# When the test's own rows were written.
SETUP = AT - timedelta(days=20)


def _plan(debtor, due: date, *, paid: int = 0) -> RepaymentPlan:
    account = debtor.accounts[0]
    return RepaymentPlan(
        debtor_id=debtor.id, account_id=account.id, status="active", total_minor=100,
        currency="GBP", installment_count=1, source="debtor", activated_at=SETUP,
        created_at=SETUP, updated_at=SETUP,
        installments=[PlanInstallment(seq=1, due_date=due, amount_minor=100, paid_minor=paid,
                                      status="pending")],
    )  # fmt: skip


async def _portfolio(sessions) -> None:
    async with sessions.begin() as s:

        async def debtor(ref: str, chat_id: int | None, dpd: int, zone: str = "Europe/London"):
            added = await add_debtor(
                s, ref, chat_id=chat_id, timezone=zone, locale="en_GB", at=SETUP,
                accounts=[(f"A-{ref}", TODAY - timedelta(days=dpd), 100, "GBP")],
            )  # fmt: skip
            await s.refresh(added, ["accounts"])
            return added

        await debtor("D-1", 901, dpd=3)  # reminded
        await debtor("D-2", 902, dpd=8)  # has blocked the bot
        await debtor("D-3", None, dpd=30, zone="Europe/Berlin")  # final stage: a ticket
        promised = await debtor("D-4", 904, dpd=10)  # a promise that was not kept
        s.add(
            Promise(
                debtor_id=promised.id, account_id=promised.accounts[0].id, amount_minor=100,
                currency="GBP", promised_date=TODAY - timedelta(days=5), status="open",
                paid_minor=0, source="debtor", created_at=SETUP, updated_at=SETUP,
            )
        )  # fmt: skip
        broken = await debtor("D-5", 905, dpd=20)  # a plan whose installment was missed
        s.add(_plan(broken, TODAY - timedelta(days=10)))
        completed = await debtor("D-6", None, dpd=4)  # a plan paid in full
        s.add(_plan(completed, TODAY + timedelta(days=10)))
        s.add(
            Payment(
                payment_ref="P-6", account_id=completed.accounts[0].id, amount_minor=100,
                currency="GBP", paid_at=SETUP + timedelta(days=1), source="test",
                created_at=SETUP,
            )
        )  # fmt: skip


async def test_remind_at_writes_only_that_instant(post, sessions, database_url, monkeypatch):
    post.started(901, 902, 904, 905)
    post.sandbox.block(BOT, 902)
    await _portfolio(sessions)
    monkeypatch.setenv("NUDGEBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("NUDGEBOT_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("NUDGEBOT_TELEGRAM_API_URL", post.sandbox.base_url)

    status = await asyncio.to_thread(main, ["remind", "--at", AT.isoformat()])

    assert status == 0
    async with sessions() as s:
        assert await written_times(s) == {
            # What the test wrote, and what the run left alone.
            ("debtor", "created_at"): {SETUP},
            ("debtor", "updated_at"): {SETUP},
            ("debtor_phone", "created_at"): {SETUP},
            ("account", "created_at"): {SETUP},
            ("account", "updated_at"): {SETUP},
            ("channel_link", "linked_at"): {SETUP},
            ("channel_link", "verified_at"): {SETUP},
            # Copied from the chat onto the debtor's spell in the book, as they were.
            ("debtor_owing", "linked_at"): {SETUP},
            ("debtor_owing", "verified_at"): {SETUP},
            ("payment", "created_at"): {SETUP},
            ("promise", "created_at"): {SETUP},
            ("repayment_plan", "created_at"): {SETUP},
            ("repayment_plan", "activated_at"): {SETUP},
            # What the run wrote: reminders and messages about the promise and plans, the chat
            # that blocked the bot, the ticket (and its console event), the settled promise and
            # plans, the audit trail, each account's bucket of the day and the debtor's spell.
            ("account_bucket", "recorded_at"): {AT},
            ("debtor_owing", "refreshed_at"): {AT},
            ("audit_event", "created_at"): {AT},
            ("channel_link", "unreachable_at"): {AT},
            ("console_event", "created_at"): {AT},
            ("contact_log", "created_at"): {AT},
            ("contact_log", "sent_at"): {AT},
            ("handoff_ticket", "opened_at"): {AT},
            ("handoff_ticket", "created_at"): {AT},
            ("handoff_ticket", "updated_at"): {AT},
            ("plan_installment", "paid_at"): {AT},
            ("promise", "updated_at"): {AT},
            ("promise", "resolved_at"): {AT},
            ("repayment_plan", "updated_at"): {AT},
            ("repayment_plan", "ended_at"): {AT},
            ("reminder_outbox", "planned_at"): {AT},
            ("reminder_outbox", "claimed_at"): {AT},
            ("reminder_outbox", "sent_at"): {AT},
        }
