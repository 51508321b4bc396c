"""One scheduled cycle: settle promises and plans, plan reminders, then dispatch what is due.

An application service above the domains it drives (promises, reminders); the scheduler
(bot/scheduler.py) runs it on an interval, `nudgebot remind` once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.policy import Policy
from bot.promises.lifecycle import plan_promise_reminders, settle_promises
from bot.promises.plans import plan_installment_reminders, settle_plans
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.planner import plan
from bot.results.buckets import record_buckets


@dataclass
class CycleReport:
    """Planned, sent, deferred, skipped by reason, failed by reason."""

    planned: int = 0
    tickets_opened: int = 0
    sent: int = 0
    deferred: int = 0
    retrying: int = 0
    interrupted: int = 0
    recovered: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    promises: Counter[str] = field(default_factory=Counter)
    plans_changed: int = 0

    def lines(self) -> list[str]:
        """A human summary, one fact a line."""

        def by_reason(counts: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

        return [
            f"planned: {self.planned}",
            f"sent: {self.sent}",
            f"deferred: {self.deferred} (retrying after an error: {self.retrying})",
            f"skipped: {sum(self.skipped.values())} ({by_reason(self.skipped)})",
            f"failed: {sum(self.failed.values())} ({by_reason(self.failed)})",
            f"interrupted earlier, not resent: {self.interrupted}",
            f"left unsent by a stopped process, sent now: {self.recovered}",
            f"tickets opened for the final stage: {self.tickets_opened}",
            f"promises settled: {by_reason(self.promises)}",
            f"plans updated: {self.plans_changed}",
        ]


async def run_cycle(
    sessions: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
    policy: Policy,
    now: datetime,
    *,
    planning: bool = True,
) -> CycleReport:
    """Plan (unless told not to) and dispatch everything due at ``now``."""
    report = CycleReport()
    if planning:
        async with sessions.begin() as s:
            report.promises = await settle_promises(s, policy, now)
            report.plans_changed = await settle_plans(s, policy, now)
            report.planned += await plan_promise_reminders(s, policy, now)
            report.planned += await plan_installment_reminders(s, policy, now)
        async with sessions.begin() as s:
            # Each account's bucket on its debtor's date, for results (a no-op past the first
            # pass of a day for accounts that did not change).
            await record_buckets(s, policy, now)
        async with sessions.begin() as s:
            planned = await plan(s, policy, now)
        report.planned += planned.planned
        report.tickets_opened = planned.tickets_opened
        report.skipped += planned.skipped
    sent = await dispatcher.dispatch(now)
    report.sent, report.deferred, report.retrying = sent.sent, sent.deferred, sent.retrying
    report.interrupted = sent.interrupted
    report.recovered = sent.recovered
    report.skipped += sent.skipped
    report.failed += sent.failed
    return report
