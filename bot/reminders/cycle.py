"""One reminder cycle (plan, then dispatch) and the ticker that runs cycles on an interval."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.promises.lifecycle import plan_promise_reminders, settle_promises
from bot.promises.plans import plan_installment_reminders, settle_plans
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.planner import plan
from bot.reminders.policy import Policy

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    """Planned, sent, deferred, skipped by reason, failed by reason."""

    planned: int = 0
    tickets_opened: int = 0
    sent: int = 0
    deferred: int = 0
    retrying: int = 0
    interrupted: int = 0
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
            planned = await plan(s, policy, now)
        report.planned += planned.planned
        report.tickets_opened = planned.tickets_opened
        report.skipped += planned.skipped
    sent = await dispatcher.dispatch(now)
    report.sent, report.deferred, report.retrying = sent.sent, sent.deferred, sent.retrying
    report.interrupted = sent.interrupted
    report.skipped += sent.skipped
    report.failed += sent.failed
    return report


class Ticker:
    """Runs dispatch every few seconds and planning every few minutes, never overlapping."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dispatcher: Dispatcher,
        policy: Policy,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions, self.dispatcher, self.policy, self.clock = (
            sessions,
            dispatcher,
            policy,
            clock,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._last_plan: datetime | None = None
        self._running: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin ticking (the first tick is right away)."""
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.policy.schedule.dispatch_every_seconds,
            next_run_time=datetime.now(UTC),  # real time: the injected clock may be any instant
            max_instances=1,
            coalesce=True,
            id="reminders",
        )
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop ticking and let a cycle in progress finish."""
        self.scheduler.shutdown(wait=False)
        if self._running is not None:
            await asyncio.shield(self._running)

    async def _tick(self) -> None:
        self._running = asyncio.current_task()
        try:
            now = self.clock()
            every = timedelta(minutes=self.policy.schedule.plan_every_minutes)
            planning = self._last_plan is None or now - self._last_plan >= every
            report = await run_cycle(
                self.sessions, self.dispatcher, self.policy, now, planning=planning
            )
            if planning:
                self._last_plan = now
            if report.planned or report.sent or report.failed:
                log.info("reminders: %s", "; ".join(report.lines()))
        except Exception:
            log.exception("reminder cycle failed; the next tick tries again")
        finally:
            self._running = None
