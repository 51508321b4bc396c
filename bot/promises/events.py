"""What follows when money arrives: the one place payment recorders report to.

Every recorder of payments (the payments API now; file imports and providers may follow) calls
:func:`payments_recorded` in the transaction that recorded them, so whatever depends on money
arriving stays in one place. Today that is the audit trail; keeping or breaking promises and
judging promises happens here too (plan installments will follow).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import Account, Payment
from bot.money import from_minor
from bot.policy import Policy
from bot.promises.lifecycle import settle_promises
from bot.promises.plans import settle_plans


async def payments_recorded(
    session: AsyncSession, refs: Sequence[str], *, policy: Policy, at: datetime
) -> None:
    """React to newly recorded payments (by ``payment_ref``): one ``payment_received`` each,
    and the open promises on their accounts judged at once (a kept one is thanked)."""
    if not refs:
        return
    rows = await session.execute(
        select(
            Payment.payment_ref,
            Payment.amount_minor,
            Payment.currency,
            Payment.source,
            Account.account_ref,
            Account.debtor_id,
            Account.id,
        )
        .join(Account, Account.id == Payment.account_id)
        .where(Payment.payment_ref.in_(refs))
        .order_by(Payment.id)
    )
    found = rows.all()
    for ref, amount, currency, source, account_ref, debtor_id, _ in found:
        audit(
            session, debtor_id, "payment_received", actor=source, at=at,
            detail=f"{ref}: {from_minor(amount, currency)} {currency} to {account_ref}",
        )  # fmt: skip
    accounts = sorted({row[-1] for row in found})
    await settle_promises(session, policy, at, account_ids=accounts)
    await settle_plans(session, policy, at, account_ids=accounts)
