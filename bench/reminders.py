"""Benchmark: the reminder engine on PostgreSQL.

(a) Planning for 100,000 and 1,000,000 accounts: seconds, and the ratio to a bare
    ``INSERT … SELECT`` of the same number of outbox rows (goal ≤ 3×), with the peak memory of
    the planning process (goal: flat as accounts grow).
(b) Dispatching 3,000 reminders through the real Telegram adapter to the local Bot API server
    enforcing 30 messages/s: achieved rate / limit (goal ≥ 0.95), 429s (goal 0), duplicates
    (must be 0).

    python bench/reminders.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench]
                              [--sizes 100000 1000000] [--dispatch 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

from common import fresh_database, link_every_debtor, vacuum
from sqlalchemy import text

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench"
# 12:00 UTC: inside or before the window in every zone used below, so everyone is plannable.
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ZONES = "ARRAY['America/New_York','Asia/Shanghai','Europe/London','Asia/Kolkata']"


async def _portfolio(
    url: str, accounts: int, chat_base: int = 0, zones: str = ZONES, overdue: str = "id % 40"
) -> None:
    """One account per debtor, due ``overdue`` days ago, every debtor verified in Telegram."""
    from bot.db.engine import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO debtor (debtor_ref, full_name, locale, timezone, created_at,"
                " updated_at) SELECT 'D-' || g, 'Debtor ' || g, 'en',"
                f" ({zones})[1 + g % cardinality({zones})], now(), now()"
                " FROM generate_series(1, :n) g"
            ),
            {"n": accounts},
        )
        await conn.execute(
            text(
                "INSERT INTO account (account_ref, debtor_id, currency, amount_due_minor,"
                " due_date, status, late_fee_waived, created_at, updated_at)"
                " SELECT 'A-' || id, id, 'USD', 10000 + id % 90000,"
                f" DATE '2026-12-01' - CAST({overdue} AS integer), 'open', false, now(), now()"
                " FROM debtor"
            )
        )
        await link_every_debtor(conn, chat_base)
    await vacuum(engine)
    await engine.dispose()


async def _planning(url: str, accounts: int) -> dict[str, float]:
    from bot.db.engine import create_engine, session_factory
    from bot.policy import load_policy
    from bot.reminders.planner import plan

    await fresh_database(url)
    await _portfolio(url, accounts)
    engine = create_engine(url)
    sessions = session_factory(engine)
    policy = load_policy()
    started = time.perf_counter()
    async with sessions.begin() as s:
        report = await plan(s, policy, AT)
    planning = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE reminder_outbox"))
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO reminder_outbox (dedupe_key, debtor_id, kind, stage, template_key,"
                " planned_at, not_before, status, attempts)"
                " SELECT 'bare:' || id, debtor_id, 'stage', 'early', 'stage_early', now(), now(),"
                " 'pending', 0 FROM account ORDER BY id LIMIT :n"
            ),
            {"n": report.planned},
        )
    bare = time.perf_counter() - started
    await engine.dispose()
    return {
        "accounts": accounts,
        "planned": report.planned,
        "tickets": report.tickets_opened,
        "seconds": planning,
        "bare_seconds": bare,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def _dispatching(url: str, count: int) -> dict[str, float]:
    from telegram.ext import ExtBot

    from bot.channels.telegram.ratelimit import ChatRateLimiter
    from bot.channels.telegram.sender import TelegramSender
    from bot.db.engine import create_engine, session_factory
    from bot.policy import load_policy
    from bot.reminders.dispatcher import Dispatcher
    from bot.reminders.planner import plan
    from bot.sandbox import BotApiServer, RateLimits

    chat_base = 9_000_000
    await fresh_database(url)
    # Everyone in London (noon there) and 1-28 days late: every debtor gets one reminder now.
    await _portfolio(url, count, chat_base, zones="ARRAY['Europe/London']", overdue="1 + id % 28")
    server = BotApiServer(rate_limits=RateLimits(global_per_second=30, global_burst=30))
    token = "777000:bench-token"
    server.add_bot(token, username="bench_bot")
    await server.start()
    engine = create_engine(url, pool_size=20)
    sessions = session_factory(engine)
    policy = load_policy()
    try:
        async with engine.connect() as conn:
            debtor_ids = (await conn.execute(text("SELECT id FROM debtor"))).scalars().all()
        for debtor_id in debtor_ids:
            server.send_text(
                "bench_bot", {"id": chat_base + debtor_id, "first_name": "B"}, "/start"
            )
        async with sessions.begin() as s:
            planned = (await plan(s, policy, AT)).planned
        limiter = ChatRateLimiter(
            policy.dispatch.global_per_second, policy.dispatch.per_chat_per_second
        )
        async with ExtBot(token, base_url=server.api_url, rate_limiter=limiter) as bot:
            dispatcher = Dispatcher(
                sessions, TelegramSender(bot, sessions), policy, creditor="Bench",
                payment_url_template="https://pay.example/{account_ref}",
            )  # fmt: skip
            started = time.perf_counter()
            report = await dispatcher.dispatch(AT)
            elapsed = time.perf_counter() - started
        stats = server.stats("bench_bot")
        times = sorted(d["at"] for c in stats["chats"].values() for d in c["delivered"])
        per_chat = Counter(len(c["delivered"]) for c in stats["chats"].values())
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        return {
            "planned": planned,
            "sent": report.sent,
            "failed": sum(report.failed.values()),
            "seconds": elapsed,
            "rate": rate,
            "too_many_requests": stats["too_many_requests"],
            "duplicates": sum((n - 1) * k for n, k in per_chat.items() if n > 1),
        }
    finally:
        await server.stop()
        await engine.dispose()


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Run each measurement in a fresh process and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--dispatch", type=int, default=3000)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, size = args.child[0], int(args.child[1])
        coro = _planning(args.pg, size) if kind == "plan" else _dispatching(args.pg, size)
        print(json.dumps(asyncio.run(coro)))
        return
    print("(a) planning on PostgreSQL")
    for size in args.sizes:
        r = _child("plan", str(size))
        print(
            f"  {r['accounts']:>9,} accounts: planned {r['planned']:>7,} in {r['seconds']:6.2f} s;"
            f" bare INSERT…SELECT {r['bare_seconds']:5.2f} s;"
            f" ratio {r['seconds'] / r['bare_seconds']:4.2f}x (goal ≤ 3);"
            f" peak {r['peak_mb']:4.0f} MB; {r['tickets']:,} final-stage tickets"
        )
    if args.dispatch:
        print("(b) dispatching through the local Bot API (30 messages/s enforced)")
        r = _child("dispatch", str(args.dispatch))
        print(
            f"  planned {r['planned']:,}, sent {r['sent']:,}, failed {r['failed']:,}"
            f" in {r['seconds']:.1f} s; rate {r['rate']:.2f}/s = {r['rate'] / 30:.3f} of the"
            f" limit (goal ≥ 0.95); 429s {r['too_many_requests']} (goal 0);"
            f" duplicates {r['duplicates']} (must be 0)"
        )


if __name__ == "__main__":
    main()
