"""The APScheduler adapter: runs the scheduled cycle on an interval, never overlapping."""

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

log = logging.getLogger(__name__)


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
