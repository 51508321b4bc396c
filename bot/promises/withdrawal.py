"""What becomes of agreements and tickets when the creditor withdraws an account.

A full portfolio file that leaves an account out closes it (bot.accounts.importer); this module
ends what was agreed about it: an open promise is cancelled and a plan (active, or waiting for
review) ends, each recorded, and the debtor is told once, politely, that there is nothing more
to do about that account here. An open ticket of the debtor gets a note for the agent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.base import in_slices, touch
from bot.db.models import (
    Debtor,
    PlanStatus,
    Promise,
    PromiseStatus,
    RepaymentPlan,
)
from bot.handoff.tickets import note_open_ticket
from bot.policy import Policy
from bot.promises.lifecycle import queue_message

KIND = TEMPLATE = "account_withdrawn"


async def end_withdrawn(
    session: AsyncSession, policy: Policy, withdrawn: list[tuple[int, int, str]], now: datetime
) -> None:
    """End the promises and plans of withdrawn (account id, debtor id, ref)s, tell each
    debtor who had one, and note the debtors' open tickets."""
    refs = {account_id: ref for account_id, _, ref in withdrawn}
    ended: dict[int, tuple[str, int, int]] = {}  # account id -> (agreement, its id, debtor id)
    for ids in in_slices(list(refs)):
        for promise in (
            await session.execute(
                select(Promise)
                .where(Promise.account_id.in_(ids), Promise.status == PromiseStatus.OPEN)
                .with_for_update()
            )
        ).scalars():
            promise.status, promise.resolved_at = PromiseStatus.CANCELLED, now
            touch(promise, now)
            ref = refs[promise.account_id]
            audit(session, promise.debtor_id, "promise_withdrawn", actor="import", at=now,
                  detail=f"promise {promise.id}: account {ref} withdrawn")  # fmt: skip
            ended[promise.account_id] = ("promise", promise.id, promise.debtor_id)
        for plan in (
            await session.execute(
                select(RepaymentPlan)
                .where(
                    RepaymentPlan.account_id.in_(ids),
                    RepaymentPlan.status.in_([PlanStatus.ACTIVE, PlanStatus.REVIEW]),
                )
                .with_for_update()
            )
        ).scalars():
            plan.status, plan.ended_at = PlanStatus.CANCELLED, now
            ref = refs[plan.account_id]
            audit(session, plan.debtor_id, "plan_withdrawn", actor="import", at=now,
                  detail=f"plan {plan.id}: account {ref} withdrawn")  # fmt: skip
            ended[plan.account_id] = ("plan", plan.id, plan.debtor_id)
    for account_id, (agreement, agreement_id, debtor_id) in sorted(ended.items()):
        debtor = await session.get(Debtor, debtor_id)
        await queue_message(
            session, policy, debtor, KIND, TEMPLATE, f"{KIND}:{agreement}:{agreement_id}", now,
            account_ids=[account_id],
        )  # fmt: skip
    by_debtor: dict[int, list[str]] = {}
    for account_id, debtor_id, ref in withdrawn:
        what = ended.get(account_id)
        by_debtor.setdefault(debtor_id, []).append(
            ref if what is None else f"{ref} ({what[0]} ended)"
        )
    for debtor_id, lines in sorted(by_debtor.items()):
        await note_open_ticket(
            session, debtor_id, "withdrawn",
            f"account(s) {', '.join(lines)} withdrawn by the creditor (left out of a full file)",
            now=now, actor="import",
        )  # fmt: skip
