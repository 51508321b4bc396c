"""Benchmark: the results dashboard on PostgreSQL over a year of a large campaign.

Generates (bench/analytics_data.py) 1,000,000 accounts of 800,000 debtors, a year of their
daily buckets, 10,000,000 contact-log rows and what goes with them (outbox, links, promises,
plans, payments, opt-outs, tickets), then times every figure of the results page with the real
functions of ``bot.results`` — each in its own transaction, as the console asks for them — for
the last 30 days, the last 90 days, and the last 30 days kept to one stage and to one language;
also the template experiments' comparison, and recording every account's bucket (the first
pass of a day and a pass that changes nothing; both rolled back). Prints each against the
goal of 2 s per figure, and the peak memory of this process.

    python bench/analytics.py [--pg URL] [--accounts 1000000] [--contact-log 10000000] [--keep]
                              [--rounds 2] [--no-recording]

(the database is postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench_analytics unless
``--pg`` names another; it is dropped and made again unless ``--keep`` can reuse it)

``--keep`` reuses the database when it already holds as many accounts (migrating it to the
newest schema first, which builds new indexes on the data), so indexes can be tried quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_data import END, Sizes, generate
from common import fresh_database
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import migrate
from bot.db.engine import create_engine, session_factory
from bot.policy import Policy, load_policy
from bot.results.book import cure_rate, liquidation, recovered, roll_rates
from bot.results.buckets import record_buckets
from bot.results.channel import by_template_version, channel_health
from bot.results.dashboard import figures, make_room
from bot.results.funnel import funnel, promise_rates
from bot.results.period import Period
from bot.results.queue import containment, queue_figures

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench_analytics"
LIMIT = 2.0  # seconds per figure
# Noon UTC the day after the data's last day: a new local date in every debtor's zone.
NOW = datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=12)
PERIODS = {
    "30 days": Period(END - timedelta(days=29), END),
    "90 days": Period(END - timedelta(days=89), END),
    "30 days, stage mid": Period(END - timedelta(days=29), END, stage="mid"),
    "30 days, zh_CN": Period(END - timedelta(days=29), END, locale="zh_CN"),
}

Figure = Callable[[AsyncSession, Policy, Period, dict[str, Any]], Awaitable[Any]]


async def _funnel(s: AsyncSession, policy: Policy, period: Period, kept: dict[str, Any]) -> None:
    _, kept["contacted"] = await funnel(s, period)


FIGURES: list[tuple[str, Figure]] = [
    ("funnel: steps", _funnel),
    ("funnel: promise and plan rates", lambda s, _, p, k: promise_rates(s, p, k["contacted"])),
    ("book: recovered against placed", lambda s, _, p, k: liquidation(s, p)),
    ("book: recovered per day", lambda s, _, p, k: recovered(s, p)),
    ("book: cure rate", lambda s, policy, p, k: cure_rate(s, policy, p)),
    ("book: roll rates", lambda s, policy, p, k: roll_rates(s, policy, p)),
    ("channel: health", lambda s, _, p, k: channel_health(s, p)),
    ("channel: by template version", lambda s, _, p, k: by_template_version(s, p)),
    ("queue: opened, times, outcomes*", lambda s, _, p, k: queue_figures(s, p)),
    ("queue: containment", lambda s, _, p, k: containment(s, p)),
]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _holds(url: str, sizes: Sizes) -> bool:
    """Whether the database exists and holds a campaign of these sizes."""
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres")
    try:
        async with admin.connect() as conn:
            name = url.rsplit("/", 1)[1]
            found = await conn.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
            )
    finally:
        await admin.dispose()
    if not found:
        return False
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            accounts = await conn.scalar(text("SELECT count(*) FROM account"))
            log = await conn.scalar(
                text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'contact_log'")
            )
    except Exception:  # an unmigrated or half-made database: make it again
        return False
    finally:
        await engine.dispose()
    return accounts == sizes.accounts and abs(log - sizes.contact_log) <= sizes.contact_log / 10


async def prepare(url: str, sizes: Sizes, keep: bool) -> float | None:
    """The database, made and filled (seconds taken), or kept and migrated (None)."""
    if keep and await _holds(url, sizes):
        started = time.perf_counter()
        await asyncio.to_thread(migrate.upgrade, url)
        took = time.perf_counter() - started
        print(f"kept the data; migrated to the newest schema in {took:.1f} s")
        return None
    print(f"generating {sizes.accounts:,} accounts and {sizes.contact_log:,} contact-log rows")
    await fresh_database(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            return await generate(conn, sizes)
    finally:
        await engine.dispose()


async def counts(url: str) -> dict[str, int]:
    """Rows per table, as the statistics have them."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind = 'r'"
                " AND relnamespace = 'public'::regnamespace AND reltuples > 0 ORDER BY relname"
            )
        )
        found = dict(rows.all())
    await engine.dispose()
    return found


async def time_figures(url: str, rounds: int) -> list[tuple[str, str, list[float]]]:
    """Each figure for each period, each in its own transaction, ``rounds`` times."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    policy = load_policy()
    found: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for period_name, period in PERIODS.items():
            kept: dict[str, Any] = {}
            for name, figure in FIGURES:
                async with sessions.begin() as s:
                    await make_room(s)
                    started = time.perf_counter()
                    await figure(s, policy, period, kept)
                    found.setdefault((name, period_name), []).append(time.perf_counter() - started)
        async with sessions.begin() as s:
            started = time.perf_counter()
            await figures(s, policy, PERIODS["30 days"])
            found.setdefault(("the whole page (all sections)", "30 days"), []).append(
                time.perf_counter() - started
            )
        seconds = await _experiments(sessions)
        if seconds is not None:
            found.setdefault(("experiments: every arm compared", "all"), []).append(seconds)
    await engine.dispose()
    return [(name, period, times) for (name, period), times in found.items()]


async def _experiments(sessions: Any) -> float | None:
    """The experiments' comparison, if this version of the code has it."""
    try:
        from bot.db.models import TemplateExperiment
        from bot.results.experiments import experiment_figures
    except ImportError:
        return None
    async with sessions.begin() as s:
        await make_room(s)
        experiments = (await s.execute(select(TemplateExperiment))).scalars().all()
        started = time.perf_counter()
        await experiment_figures(s, experiments, as_of=NOW)
        return time.perf_counter() - started


async def time_recording(url: str) -> dict[str, tuple[float, int, int]]:
    """Recording every account's bucket at NOW: the day's first pass, a pass that changes
    nothing, and a first ever pass over an empty history; rolled back."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    policy = load_policy()
    found: dict[str, tuple[float, int, int]] = {}
    async with sessions() as s:
        for label, at in (
            ("the day's first pass", NOW),
            ("again, nothing changed", NOW + timedelta(minutes=10)),
        ):
            started = time.perf_counter()
            done = await record_buckets(s, policy, at)
            found[label] = (time.perf_counter() - started, done.started, done.ended)
        await s.rollback()
    async with sessions() as s:
        await s.execute(text("DELETE FROM account_bucket"))
        started = time.perf_counter()
        done = await record_buckets(s, policy, NOW)
        found["first ever (empty history)"] = (
            time.perf_counter() - started,
            done.started,
            done.ended,
        )
        await s.rollback()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE account_bucket"))
    await engine.dispose()
    return found


def main() -> None:
    """Make or keep the data, then print each figure's time against the goal."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--contact-log", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse data of the same size")
    parser.add_argument("--rounds", type=int, default=2, help="times each figure is run")
    parser.add_argument("--no-recording", action="store_true", help="skip record_buckets")
    args = parser.parse_args()
    sizes = Sizes(args.accounts, args.contact_log)
    generated = asyncio.run(prepare(args.pg, sizes, args.keep))
    if generated is not None:
        print(f"generated in {generated:.0f} s ({generated / 60:.1f} min)")
    rows = asyncio.run(counts(args.pg))
    print("rows: " + ", ".join(f"{name} {n:,}" for name, n in rows.items()))
    print(f"\nfigures (seconds per run, {args.rounds} run(s) each; the goal is {LIMIT:.0f} s)")
    print(f"{'figure':<36} {'period':<20} {'runs':>15} {'worst/goal':>10}")
    worst = 0.0
    for name, period, times in asyncio.run(time_figures(args.pg, args.rounds)):
        runs = " ".join(f"{t:6.2f}" for t in times)
        print(f"{name:<36} {period:<20} {runs:>15} {max(times) / LIMIT:10.2f}")
        if not name.startswith("the whole page"):
            worst = max(worst, max(times))
    print("* queue_figures computes four tables, containment among them (also timed alone)")
    print(f"slowest figure {worst:.2f} s = {worst / LIMIT:.2f} of the goal")
    if not args.no_recording:
        print("\nrecording every account's bucket (record_buckets, rolled back)")
        for label, (seconds, started, ended) in asyncio.run(time_recording(args.pg)).items():
            print(f"  {label:<28} {seconds:7.2f} s: {started:,} stretches begun, {ended:,} ended")
    print(f"\npeak memory of this process: {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
