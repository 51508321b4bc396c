"""Benchmark: the reminder engine on PostgreSQL.

(a) Planning for 100,000 and 1,000,000 accounts: seconds, and the ratio to a bare
    ``INSERT … SELECT`` of the same number of outbox rows (goal ≤ 3×), with the peak memory of
    the planning process (goal: flat as accounts grow).
(b) Dispatching 3,000 reminders by 1 and by 3 ``nudgebot remind`` processes at once on one
    PostgreSQL, to the local Bot API server enforcing 30 messages/s overall and 1/s per chat:
    achieved rate / limit (goal ≥ 0.97), 429s (goal 0), duplicates (must be 0); then 3 again
    with one of them killed (SIGKILL) every few seconds and started again: duplicates 0, every
    row settled, "delivery unknown" at most the requests in flight at the kills.
(c) What reserving a sending slot in PostgreSQL costs per message, against one send.

    python bench/reminders.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench]
                              [--sizes 100000 1000000] [--dispatch 3000] [--processes 1 3]
                              [--kill-every 4]
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


async def _fleet(url: str, count: int, processes: int, kill_every: float) -> dict[str, float]:
    """``processes`` runs of ``nudgebot remind`` at once on one PostgreSQL, against the local
    Bot API server enforcing 30/s overall and 1/s per chat; with ``kill_every``, one of them
    is killed with SIGKILL that often and started again."""
    import os
    import random
    import signal
    import tempfile

    from bot.policy import DEFAULT_POLICY
    from bot.sandbox import BotApiServer, RateLimits

    chat_base = 9_000_000
    await fresh_database(url)
    # Everyone in London (noon there) and 1-28 days late: every debtor gets one reminder now.
    await _portfolio(url, count, chat_base, zones="ARRAY['Europe/London']", overdue="1 + id % 28")
    server = BotApiServer(rate_limits=RateLimits(global_per_second=30, global_burst=30))
    token = "777000:bench-token"
    server.add_bot(token, username="bench_bot")
    await server.start()
    from bot.db.engine import create_engine

    engine = create_engine(url)
    lease = 5
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as policy:
        policy.write(
            DEFAULT_POLICY.read_text(encoding="utf-8").replace(
                "lease_seconds = 15", f"lease_seconds = {lease}"
            )
        )
    env = {
        **os.environ,
        "NUDGEBOT_DATABASE_URL": url,
        "NUDGEBOT_BOT_TOKEN": token,
        "NUDGEBOT_TELEGRAM_API_URL": server.base_url,
        "NUDGEBOT_POLICY_FILE": policy.name,
    }

    async def remind() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "remind", "--at", AT.isoformat(), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def unsettled(*, for_anyone: bool = False) -> int:
        """Rows not yet settled; ``for_anyone``: of those, what a new process could take."""
        orphans = (
            " AND (status = 'pending' OR claimed_by NOT IN (SELECT name FROM worker"
            " WHERE alive_until > extract(epoch FROM clock_timestamp())))"
            if for_anyone
            else ""
        )
        async with engine.connect() as conn:
            return (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM reminder_outbox"
                        f" WHERE status IN ('pending', 'claimed', 'sending'){orphans}"
                    )
                )
            ).scalar_one()

    try:
        async with engine.connect() as conn:
            debtor_ids = (await conn.execute(text("SELECT id FROM debtor"))).scalars().all()
        for debtor_id in debtor_ids:
            server.send_text(
                "bench_bot", {"id": chat_base + debtor_id, "first_name": "B"}, "/start"
            )
        started = time.perf_counter()
        fleet = [await remind() for _ in range(processes)]
        kills, in_flight_at_kills = 0, 0
        next_kill = time.perf_counter() + kill_every if kill_every else float("inf")
        while True:
            await asyncio.sleep(0.2)
            for n, proc in enumerate(fleet):
                if proc.returncode is not None and await unsettled(for_anyone=True):
                    fleet[n] = await remind()  # rows a killed process held are free now
            alive = [n for n, p in enumerate(fleet) if p.returncode is None]
            if time.perf_counter() >= next_kill and alive:
                victim = random.choice(alive)
                pid = fleet[victim].pid
                fleet[victim].send_signal(signal.SIGKILL)
                await fleet[victim].wait()
                kills += 1
                async with engine.connect() as conn:
                    in_flight_at_kills += (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM reminder_outbox WHERE status = 'sending'"
                                " AND claimed_by LIKE :pid"
                            ),
                            {"pid": f"%:{pid}:%"},
                        )
                    ).scalar_one()
                fleet[victim] = await remind()
                next_kill = time.perf_counter() + kill_every
            if all(p.returncode is not None for p in fleet) and not await unsettled():
                break
            if time.perf_counter() - started > 600:
                raise RuntimeError("the campaign did not finish in 10 minutes")
        elapsed = time.perf_counter() - started
        async with engine.connect() as conn:
            states = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT status || coalesce(': ' || split_part(reason, ':', 1), ''),"
                            " count(*) FROM reminder_outbox GROUP BY 1"
                        )
                    )
                ).all()
            )
        stats = server.stats("bench_bot")
        times = sorted(d["at"] for c in stats["chats"].values() for d in c["delivered"])
        per_chat = Counter(len(c["delivered"]) for c in stats["chats"].values())
        # The steady rate: the limit holds while every process has work, so measure from the
        # first to the 95th percentile delivery (the tail waits on leases of killed processes).
        last = times[int(len(times) * 0.95) - 1] if kill_every else times[-1]
        steady = times[: int(len(times) * 0.95)] if kill_every else times
        rate = (len(steady) - 1) / (last - times[0]) if len(steady) > 1 else 0.0
        return {
            "processes": processes,
            "planned": count,
            "delivered": len(times),
            "seconds": elapsed,
            "rate": rate,
            "too_many_requests": stats["too_many_requests"],
            "duplicates": sum((n - 1) * k for n, k in per_chat.items() if n > 1),
            "kills": kills,
            "in_flight_at_kills": in_flight_at_kills,
            "states": states,
        }
    finally:
        await server.stop()
        await engine.dispose()
        os.unlink(policy.name)


async def _pace_cost(url: str, count: int) -> dict[str, float]:
    """What reserving a slot in PostgreSQL costs (a chat's and the bot's, at 1,000/s: paid
    broadcasts), against one sendMessage to the local Bot API with no limits."""
    from telegram.ext import ExtBot

    from bot.channels.telegram.ratelimit import SharedPace
    from bot.db.engine import create_engine
    from bot.sandbox import BotApiServer, RateLimits

    await fresh_database(url)
    engine = create_engine(url)
    pace = SharedPace(engine, 1000.0, 1.0, channel="telegram")
    await pace.chat_slot(0)
    started = time.perf_counter()
    for n in range(count):
        await pace.chat_slot(1 + n)
        await pace.global_slot()
    reserve = (time.perf_counter() - started) / count
    # 50 messages at once, as a busy process has them: the chats' slots in one statement,
    # the bot's in a block.

    async def both(chat: int) -> None:
        await pace.chat_slot(chat)
        await pace.global_slot()

    started = time.perf_counter()
    for n in range(count // 50):
        await asyncio.gather(*(both(count + 50 * n + k) for k in range(50)))
    block = (time.perf_counter() - started) / count
    await pace.close()
    await engine.dispose()
    server = BotApiServer(rate_limits=RateLimits(enabled=False))
    token = "777001:bench-pace"
    server.add_bot(token, username="pace_bot")
    await server.start()
    server.send_text("pace_bot", {"id": 5, "first_name": "P"}, "/start")
    from bot.channels.telegram.transport import AiohttpRequest

    async with ExtBot(token, base_url=server.api_url, request=AiohttpRequest()) as bot:
        await bot.send_message(5, "warm")
        started = time.perf_counter()
        for _ in range(count // 4):
            await bot.send_message(5, "Hello")
        send = (time.perf_counter() - started) / (count // 4)
    await server.stop()
    return {"reserve_ms": reserve * 1000, "block_ms": block * 1000, "send_ms": send * 1000}


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
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 3])
    parser.add_argument(
        "--kill-every", type=float, default=4.0, help="seconds between kills; 0: no kill run"
    )
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, size = args.child[0], int(args.child[1])
        if kind == "plan":
            coro = _planning(args.pg, size)
        elif kind == "pace":
            coro = _pace_cost(args.pg, size)
        else:
            coro = _fleet(args.pg, size, int(args.child[2]), float(args.child[3]))
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
        print(
            "(b) dispatching: `nudgebot remind` processes on one PostgreSQL, through the local"
            " Bot API enforcing 30/s overall and 1/s per chat"
        )
        runs = [(n, 0.0) for n in args.processes]
        if args.kill_every:
            runs.append((max(args.processes), args.kill_every))
        for processes, kill_every in runs:
            r = _child("dispatch", str(args.dispatch), str(processes), str(kill_every))
            killed = (
                f"; killed {r['kills']} times (SIGKILL, then started again), requests in flight"
                f" at the kills {r['in_flight_at_kills']}"
                if kill_every
                else ""
            )
            goal = (
                " (killed processes' claims wait out their 5 s lease, and each start costs"
                " about a second of processor)"
                if kill_every
                else " (goal ≥ 0.97)"
            )
            print(
                f"  {processes} process(es){killed}: planned {r['planned']:,}, delivered"
                f" {r['delivered']:,} in {r['seconds']:.1f} s; rate {r['rate']:.2f}/s ="
                f" {r['rate'] / 30:.3f} of the limit{goal}; 429s"
                f" {r['too_many_requests']} (goal 0); duplicates {r['duplicates']} (must be 0)"
            )
            print(f"    outbox: {', '.join(f'{k} {v:,}' for k, v in sorted(r['states'].items()))}")
    print("(c) the cost of a shared sending slot in PostgreSQL, against a send")
    r = _child("pace", "4000")
    print(
        f"  a chat's slot and the bot's, one message at a time: {r['reserve_ms']:.3f} ms per"
        f" message; 50 at a time (1,000/s): {r['block_ms']:.3f} ms per message; one"
        f" sendMessage to the local Bot API: {r['send_ms']:.3f} ms; ratios"
        f" {r['reserve_ms'] / r['send_ms']:.2f} and {r['block_ms'] / r['send_ms']:.3f} (a send"
        " to Telegram itself also waits tens of ms for the network)"
    )


if __name__ == "__main__":
    main()
