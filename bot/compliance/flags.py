"""Holds a person sets on a debtor's behalf: a hardship pause, a dispute decided, a death
confirmed, communication ceased. Each is audited with its actor, in the caller's transaction;
the planner and the dispatcher read the flags (bot/reminders/holds.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.base import touch
from bot.db.models import Account, AccountStatus, Debtor
from bot.policy import Policy


class FlagError(ValueError):
    """A hold that cannot be set as asked; the message says why, for the person asking."""


def pause_limit(policy: Policy, today: date) -> date:
    """The latest day a hardship pause may run to, from the debtor's ``today``."""
    return today + timedelta(days=policy.hardship.max_pause_days)


async def pause_for_hardship(
    s: AsyncSession,
    debtor: Debtor,
    until: date,
    *,
    today: date,
    now: datetime,
    actor: str,
    policy: Policy,
) -> None:
    """No reminders until ``until`` (the debtor's local date), at most the policy's pause."""
    latest = pause_limit(policy, today)
    if until < today:
        raise FlagError("A pause must end today or later.")
    if until > latest:
        raise FlagError(
            f"A hardship pause may last {policy.hardship.max_pause_days} days at most"
            f" (until {latest.isoformat()})."
        )
    debtor.hardship_until = until
    touch(debtor, now)
    audit(s, debtor.id, "hardship_pause", actor=actor, at=now, detail=f"until {until}")


async def decide_dispute(
    s: AsyncSession, debtor: Debtor, *, upheld: bool, now: datetime, actor: str
) -> None:
    """Upheld, the dispute stays on record and keeps stopping reminders (the creditor's records
    close the debt); rejected, the dispute flags go and reminders resume as the policy says."""
    if upheld:
        if debtor.dispute_at is None:
            debtor.dispute_at = now
        await s.execute(
            update(Account)
            .where(
                Account.debtor_id == debtor.id,
                Account.status == AccountStatus.OPEN,
                Account.dispute_at.is_(None),
            )
            .values(dispute_at=now, updated_at=now)
        )
    else:
        debtor.dispute_at = None
        await s.execute(
            update(Account)
            .where(Account.debtor_id == debtor.id, Account.dispute_at.is_not(None))
            .values(dispute_at=None, updated_at=now)
        )
    touch(debtor, now)
    audit(s, debtor.id, "dispute_upheld" if upheld else "dispute_rejected", actor=actor, at=now)


async def confirm_death(s: AsyncSession, debtor: Debtor, *, now: datetime, actor: str) -> None:
    """The debtor died: no reminder, reply or account detail goes to the chat any more."""
    if debtor.deceased_at is None:
        debtor.deceased_at = now
    touch(debtor, now)
    audit(s, debtor.id, "deceased_confirmed", actor=actor, at=now)


async def cease_communication(
    s: AsyncSession, debtor: Debtor, *, now: datetime, actor: str
) -> None:
    """The debtor asked us to stop contacting them: nothing is sent to them from now on."""
    if debtor.cease_at is None:
        debtor.cease_at = now
    touch(debtor, now)
    audit(s, debtor.id, "cease_communication", actor=actor, at=now)
