"""The dispatcher: claims due outbox rows, checks everything again at the last moment, sends.

Every row ends in a named state with a reason. A row is claimed by switching it from
``pending`` to ``claimed`` in the name of this process's worker lease, in one statement (with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two dispatchers never take the same row. It
becomes ``sending`` only as its request to the channel starts (bot/db/workers.py). When a
process's lease runs out, any dispatcher gives its ``claimed`` rows back to ``pending`` (they
were never sent, and go out now) and settles its ``sending`` rows as ``failed`` with reason
``interrupted``: whether the channel delivered those cannot be known, and they are never
resent (a missed reminder is better than a doubled one; the next cadence step plans a new one).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import (
    ChannelUnreachable,
    PermanentSendError,
    Sender,
    TransientSendError,
    Withdrawn,
)
from bot.db.batch import GroupCommit
from bot.db.models import (
    ChannelLink,
    Debtor,
    OutboxStatus,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReminderOutbox,
    RepaymentPlan,
)
from bot.db.workers import Claimed
from bot.policy import Policy
from bot.policy.window import ZoneClock, zone_clock
from bot.reminders.compose import (
    compose_installment_message,
    compose_promise_message,
    compose_reminder,
    compose_withdrawal_message,
)
from bot.reminders.holds import debtor_reason
from bot.reminders.planner import candidates, stage_reminders
from bot.reminders.timing import WINDOW_CLOSED, check_timing
from bot.templates.renderer import RenderError

log = logging.getLogger(__name__)
IN_FLIGHT = 64


@dataclass
class DispatchReport:
    """What one dispatch pass did."""

    sent: int = 0
    deferred: int = 0
    interrupted: int = 0
    # Rows a stopped process had claimed and not begun to send: given back, and sent now.
    recovered: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    retrying: int = 0


@dataclass(frozen=True)
class _Decision:
    status: str  # sent, skipped, deferred, failed, retry, lost (another process has it)
    reason: str | None = None
    not_before: datetime | None = None


def _by_debtor(rows: list[ReminderOutbox]) -> list[list[ReminderOutbox]]:
    """Group rows per debtor; messages about what the debtor did (promises) before reminders."""
    groups: dict[int, list[ReminderOutbox]] = {}
    for row in rows:
        groups.setdefault(row.debtor_id, []).append(row)
    return [
        sorted(group, key=lambda r: (r.kind == "stage", r.not_before, r.id))
        for group in groups.values()
    ]


class Dispatcher:
    """Sends what the planner decided, within the policy, through any Sender."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        policy: Policy,
        *,
        creditor: str,
        payment_url_template: str,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.policy = policy
        self.creditor = creditor
        self.payment_url_template = payment_url_template
        # Rows are claimed in the name of the process that sends them.
        self.worker = sender.lease.name
        # Rows settled at the same moment share one commit.
        self._settled: GroupCommit[tuple[int, dict[str, object]], None] = GroupCommit(
            sessions, self._write_settled
        )

    async def dispatch(self, now: datetime) -> DispatchReport:
        """Send every row due at ``now``; return what happened.

        Rows are claimed as sending slots free up rather than batch by batch, so the rate
        limiter always has the next message waiting and the pipeline never drains mid-run.
        """
        report = DispatchReport()
        report.recovered, report.interrupted = await self.recover()
        running: set[asyncio.Task[None]] = set()
        exhausted = False
        while True:
            if not exhausted and len(running) <= IN_FLIGHT // 2:
                rows = await self.claim(now, IN_FLIGHT - len(running))
                exhausted = not rows
                running |= {
                    asyncio.create_task(self._process_in_turn(group, now, report))
                    for group in _by_debtor(rows)
                }
            if not running:
                if exhausted:
                    return report
                continue
            _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            if exhausted and not running:
                # Rows claimed by nobody may have become due while we worked; look once more.
                exhausted = False

    async def _process_in_turn(
        self, rows: list[ReminderOutbox], now: datetime, report: DispatchReport
    ) -> None:
        """One debtor's rows, one after another, so the caps see each message go out."""
        for row in rows:
            await self._process(row, now, report)

    async def recover(self) -> tuple[int, int]:
        """Rows of processes whose lease ran out (see the module docstring), and this
        process's own left behind by a failure: how many were given back, and how many
        settled as interrupted."""
        dead = self.sender.lease.unheld(ReminderOutbox.__table__)  # type: ignore[arg-type]
        async with self.sessions.begin() as s:
            back = await s.execute(
                update(ReminderOutbox)
                .where(ReminderOutbox.status == OutboxStatus.CLAIMED, dead)
                .values(status=OutboxStatus.PENDING, claimed_by=None)
            )
            cut = await s.execute(
                update(ReminderOutbox)
                .where(ReminderOutbox.status == OutboxStatus.SENDING, dead)
                .values(
                    status=OutboxStatus.FAILED,
                    reason="interrupted: delivery unknown, not resent",
                )
            )
        if cut.rowcount:
            log.warning(
                "%d reminder(s) were being sent by a process that stopped; whether they arrived"
                " is unknown, so they are not resent",
                cut.rowcount,
            )
        return back.rowcount or 0, cut.rowcount or 0

    async def claim(self, now: datetime, limit: int) -> list[ReminderOutbox]:
        """Take up to ``limit`` due rows for this worker."""
        due = (
            select(ReminderOutbox.id)
            .where(
                ReminderOutbox.status == OutboxStatus.PENDING,
                ReminderOutbox.not_before <= now,
            )
            .order_by(ReminderOutbox.not_before, ReminderOutbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self.sessions.begin() as s:
            claimed = await s.execute(
                update(ReminderOutbox)
                .where(
                    ReminderOutbox.id.in_(due.scalar_subquery()),
                    ReminderOutbox.status == OutboxStatus.PENDING,
                )
                .values(status=OutboxStatus.CLAIMED, claimed_by=self.worker, claimed_at=now)
                .returning(ReminderOutbox)
            )
            rows = list(claimed.scalars().all())
        self.sender.lease.hold(ReminderOutbox.__table__, [r.id for r in rows])  # type: ignore[arg-type]
        return rows

    async def _process(self, row: ReminderOutbox, now: datetime, report: DispatchReport) -> None:
        handover = Claimed.reminder(self.sender.lease, row.id)
        try:
            try:
                decision = await self._send(row, now, handover)
            except Exception as exc:  # one bad row must not stop the others
                decision = self._after_error(row, exc, handover.begun, now)
            await self._settle(row, decision, now, report)
        except Exception as exc:  # the database went away: the next pass finds the row
            log.warning("reminder %s could not be settled (%s)", row.id, type(exc).__name__)
        finally:
            # Settled, or left for the next pass to find (the database went away).
            self.sender.lease.let_go(ReminderOutbox.__table__, [row.id])  # type: ignore[arg-type]

    def _after_error(
        self, row: ReminderOutbox, exc: Exception, begun: bool, now: datetime
    ) -> _Decision:
        """What to make of a row whose handling raised: sent or not cannot be known once its
        request had begun; before that, a database that went away means try again."""
        if begun:
            log.warning("reminder %s: %s after it was handed over", row.id, type(exc).__name__)
            return _Decision("failed", "interrupted: delivery unknown, not resent")
        if isinstance(exc, SQLAlchemyError | OSError):
            log.warning("reminder %s: the database failed (%s)", row.id, type(exc).__name__)
            return _Decision(
                "retry", f"database: {type(exc).__name__}", now + timedelta(seconds=5)
            )
        log.exception("reminder %s failed unexpectedly", row.id)
        return _Decision("failed", f"error: {type(exc).__name__}")

    async def _send(self, row: ReminderOutbox, now: datetime, handover: Claimed) -> _Decision:
        async with self.sessions.begin() as s:
            # Locking the debtor makes the caps check and this row's claim one step for every
            # dispatcher: the next one to look sees this row as being sent.
            debtor = (
                await s.execute(select(Debtor).where(Debtor.id == row.debtor_id).with_for_update())
            ).scalar_one()
            clock = zone_clock(debtor.timezone, now, self.policy.window)
            if row.kind == "stage":
                check = await self._still_warranted(s, row, clock)
            else:
                check = await self._agreement_message_still_relevant(s, row, clock)
            if check is not None:
                return check
            timing = await check_timing(
                s, self.policy, debtor.id, debtor.timezone, now, worker=self.worker,
                exclude=row.id,
            )  # fmt: skip
            if timing is not None:
                return _Decision(timing.status, timing.reason, timing.until)
            link = (
                await s.execute(
                    select(ChannelLink)
                    .where(
                        ChannelLink.debtor_id == debtor.id,
                        ChannelLink.channel == self.sender.channel,
                        ChannelLink.verified_at.is_not(None),
                        ChannelLink.unreachable_at.is_(None),
                    )
                    .order_by(ChannelLink.verified_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if link is None:
                # Reachable only on a channel this process does not send through.
                return _Decision("skipped", "unreachable")
            try:
                if row.kind == "stage":
                    composed = await compose_reminder(
                        s, debtor, row.template_key, policy=self.policy, today=clock.local_date,
                        creditor=self.creditor, payment_url_template=self.payment_url_template,
                    )  # fmt: skip
                elif row.kind == "account_withdrawn":
                    composed = await compose_withdrawal_message(
                        # The dedupe key is account_withdrawn:<promise or plan>:<its id>.
                        s, debtor, row.account_ids[0], row.dedupe_key.split(":")[1],
                        creditor=self.creditor, payment_url_template=self.payment_url_template,
                    )  # fmt: skip
                elif row.promise_id is not None:
                    composed = await compose_promise_message(
                        s, debtor, await s.get(Promise, row.promise_id), row.template_key,
                        creditor=self.creditor, payment_url_template=self.payment_url_template,
                    )  # fmt: skip
                else:
                    composed = await compose_installment_message(
                        s, debtor, await s.get(PlanInstallment, row.installment_id),
                        row.template_key, policy=self.policy, creditor=self.creditor,
                        payment_url_template=self.payment_url_template,
                    )  # fmt: skip
            except RenderError as exc:
                return _Decision("failed", f"template: {exc}"[:200])
        # Written when the row is settled, with what became of it.
        row.account_ids = composed.account_ids
        row.attempts += 1
        try:
            delivery = await self.sender.send(
                link.chat_id, composed.message, debtor_id=debtor.id, locale=debtor.locale,
                handover=handover,
            )  # fmt: skip
        except Withdrawn:
            return _Decision("lost")
        except ChannelUnreachable:
            return _Decision("failed", "unreachable")
        except PermanentSendError as exc:
            return _Decision("failed", f"refused: {exc}"[:200])
        except TransientSendError as exc:
            if row.attempts >= self.policy.dispatch.max_attempts:
                return _Decision("failed", f"gave up after {row.attempts} attempts: {exc}"[:200])
            backoff = timedelta(seconds=2**row.attempts)
            return _Decision("retry", str(exc)[:200], now + backoff)
        row.contact_log_id = delivery.log_id
        row.experiment_id, row.arm = composed.experiment or (None, None)
        return _Decision("sent")

    async def _still_warranted(
        self, s: AsyncSession, row: ReminderOutbox, clock: ZoneClock
    ) -> _Decision | None:
        """Holds, payments and stage changes since planning: skip, naming the reason."""
        now_for_debtor = candidates(
            self.policy, [clock], any_hour=True, debtor_id=row.debtor_id
        ).subquery("candidate")
        keys = await s.execute(stage_reminders(self.policy, now_for_debtor))
        if row.dedupe_key in set(keys.scalars().all()):
            return None
        reason = (await s.execute(select(now_for_debtor.c.reason))).scalar()
        return _Decision("skipped", reason or "superseded")

    async def _agreement_message_still_relevant(
        self, s: AsyncSession, row: ReminderOutbox, clock: ZoneClock
    ) -> _Decision | None:
        """A message about a promise or a plan: the debtor's holds (the agreement itself aside),
        and for reminders, an agreement still waiting for that payment."""
        reason = (
            await s.execute(
                debtor_reason(
                    self.policy, clock.day, row.debtor_id, ignore=("open_promise", "plan_active")
                )
            )
        ).scalar()
        if reason:
            return _Decision("skipped", reason)
        if row.promise_id is not None:
            promise = await s.get(Promise, row.promise_id)
            if row.kind == "promise_due" and promise.status != PromiseStatus.OPEN:
                return _Decision("skipped", "superseded")
        if row.installment_id is not None:
            installment = await s.get(PlanInstallment, row.installment_id)
            plan = await s.get(RepaymentPlan, installment.plan_id)
            waiting = {"installment_due": "pending", "installment_missed": "missed"}[row.kind]
            if plan.status != PlanStatus.ACTIVE or installment.status != waiting:
                return _Decision("skipped", "superseded")
        return None

    async def _settle(
        self, row: ReminderOutbox, decision: _Decision, now: datetime, report: DispatchReport
    ) -> None:
        if decision.status == "lost":
            return
        values: dict[str, object] = {
            "reason": decision.reason,
            "attempts": row.attempts,
            "account_ids": row.account_ids,
        }
        if decision.status == "sent":
            values.update(
                status=OutboxStatus.SENT, sent_at=now, contact_log_id=row.contact_log_id,
                experiment_id=row.experiment_id, arm=row.arm,
            )  # fmt: skip
            report.sent += 1
        elif decision.status in ("deferred", "retry"):
            values.update(
                status=OutboxStatus.PENDING, not_before=decision.not_before, claimed_by=None
            )
            if decision.status == "retry":
                report.retrying += 1
            else:
                report.deferred += 1
                counter = (
                    "window_deferrals" if decision.reason == WINDOW_CLOSED else "gap_deferrals"
                )
                values[counter] = getattr(ReminderOutbox, counter) + 1
        elif decision.status == "skipped":
            values.update(status=OutboxStatus.SKIPPED)
            report.skipped[decision.reason or "unknown"] += 1
        else:
            values.update(status=OutboxStatus.FAILED)
            report.failed[(decision.reason or "unknown").split(":")[0]] += 1
        await self._settled.submit((row.id, values))

    async def _write_settled(
        self, s: AsyncSession, batch: list[tuple[int, dict[str, object]]]
    ) -> list[None]:
        """What became of the rows settled together, in one transaction."""
        for row_id, values in batch:
            await s.execute(
                update(ReminderOutbox)
                .where(
                    ReminderOutbox.id == row_id,
                    ReminderOutbox.status.in_([OutboxStatus.CLAIMED, OutboxStatus.SENDING]),
                    ReminderOutbox.claimed_by == self.worker,
                )
                .values(**values)
            )
        return [None] * len(batch)
