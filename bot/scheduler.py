"""The APScheduler adapter: runs the scheduled cycle on an interval, and looks after the agent
queue (expired claims, waiting debtors) on another, neither ever overlapping itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.policy import Policy
from bot.reminders.dispatcher import Dispatcher
from bot.services.cycle import run_cycle
from bot.services.waiting import look_after_queue

log = logging.getLogger(__name__)
# How often expired claims go back to the queue and waiting debtors are told when to expect
# an answer; its own job, so a long dispatch never holds it back.
QUEUE_EVERY_SECONDS = 15


class Ticker:
    """Runs dispatch every few seconds and planning every few minutes, never overlapping; and
    the agent queue's care every few seconds beside them."""

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
        self._queue_running: asyncio.Task[None] | None = None

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
        self.scheduler.add_job(
            self._look_after_queue,
            "interval",
            seconds=QUEUE_EVERY_SECONDS,
            next_run_time=datetime.now(UTC),  # real time, as above
            max_instances=1,
            coalesce=True,
            id="agent-queue",
        )
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop ticking and let a cycle in progress finish."""
        self.scheduler.shutdown(wait=False)
        for task in (self._running, self._queue_running):
            if task is not None:
                await asyncio.shield(task)

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

    async def _look_after_queue(self) -> None:
        self._queue_running = asyncio.current_task()
        try:
            report = await look_after_queue(
                self.sessions, self.dispatcher.sender, self.policy, self.clock(),
                creditor=self.dispatcher.creditor,
            )  # fmt: skip
            if report.released or report.notified:
                log.info(
                    "agent queue: %d claims expired, %d debtors told when to expect an answer",
                    report.released, report.notified,
                )  # fmt: skip
        except Exception:
            log.exception("looking after the agent queue failed; the next tick tries again")
        finally:
            self._queue_running = None
