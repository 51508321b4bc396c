"""Every figure of the results page, by section, for one period (what the console shows, draws
and exports)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.policy import Policy
from bot.results.book import cure_rate, liquidation, recovered, roll_rates
from bot.results.channel import by_template_version, channel_health
from bot.results.funnel import funnel, promise_rates
from bot.results.period import Period, Table
from bot.results.queue import queue_figures

SECTIONS = ("funnel", "book", "channel", "queue")
# The tables of each section, in order: a CSV of one table counts its section only.
TABLES = {
    "funnel": ("funnel", "rates"),
    "book": ("recovered", "liquidation", "cure", "roll_rates"),
    "channel": ("channel", "versions"),
    "queue": ("tickets_opened", "queue_times", "outcomes", "containment"),
}
# What agents see: the queue they work. Admins see everything.
AGENT_SECTIONS = ("queue",)


async def make_room(session: AsyncSession) -> None:
    """Settings the figures' queries need, for the session's transaction only."""
    if session.bind.dialect.name == "postgresql":
        # Figures join sets of up to millions of debtors: give the hash joins room, for this
        # transaction only.
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
        # The driver prepares each statement; after a few runs PostgreSQL would plan it once
        # for any period, which read a 90-day queue from the wrong index (1.0 s → 1.9 s).
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def section(session: AsyncSession, policy: Policy, period: Period, name: str) -> list[Table]:
    """The tables of one section."""
    await make_room(session)
    if name == "funnel":
        steps, contacted = await funnel(session, period)
        return [steps, await promise_rates(session, period, contacted)]
    if name == "book":
        return [
            await recovered(session, period),
            await liquidation(session, period),
            await cure_rate(session, policy, period),
            await roll_rates(session, policy, period),
        ]
    if name == "channel":
        return [await channel_health(session, period), await by_template_version(session, period)]
    if name == "queue":
        return await queue_figures(session, period)
    raise ValueError(f"no section {name!r}")


async def figures(
    session: AsyncSession, policy: Policy, period: Period, sections: tuple[str, ...] = SECTIONS
) -> dict[str, list[Table]]:
    """Every table of the sections asked for, in order."""
    return {name: await section(session, policy, period, name) for name in sections}
