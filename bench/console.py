"""Benchmark: the agent console on PostgreSQL, the real bot and web server in one process.

(a) Relay latency: debtors whose tickets an agent holds write to the bot through the local Bot
    API server (flood limits off) while 20 consoles are connected to the console's WebSocket.
    For each message, the time from the debtor sending it to each console receiving its
    ``message`` event; printed as p50/p99 over every (message, console) pair, against the goal
    of p99 < 100 ms. Messages go one after another, so this is the latency of an idle system.
(b) Claims: 10,000 open tickets and 50 agents claiming at once until none is left, first each
    taking the next (the queue's "Take the next" button), then each picking one of the oldest
    50 unclaimed tickets the way the queue's rows offer them. Printed for each:
    claims per second (goal ≥ 1,000), attempts lost to another agent, and double claims (two
    agents told they won one ticket; must be 0).

    python bench/console.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench]
                            [--messages 200] [--consoles 20] [--tickets 10000] [--agents 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import defaultdict
from datetime import UTC, datetime

import aiohttp
from common import fresh_database, link_every_debtor, vacuum
from sqlalchemy import select, text

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench"
TOKEN = "889000:console-bench-token"
BOT = "console_bench_bot"
CHAT_BASE = 6_000_000
PASSWORD = "bench-password-long-enough"


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _tickets(url: str, count: int) -> None:
    """``count`` verified debtors in New York, each with an account and an open ticket."""
    from bot.db.engine import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in ("console_event", "audit_event", "contact_log", "handoff_ticket",
                      "channel_link", "account", "debtor"):  # fmt: skip
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(
            text(
                "INSERT INTO debtor (debtor_ref, full_name, locale, timezone, created_at,"
                " updated_at) SELECT 'D-' || g, 'Debtor ' || g, 'en_US', 'America/New_York',"
                " now(), now() FROM generate_series(1, :n) g"
            ),
            {"n": count},
        )
        await conn.execute(
            text(
                "INSERT INTO account (account_ref, debtor_id, currency, amount_due_minor,"
                " due_date, status, late_fee_waived, created_at, updated_at)"
                " SELECT 'A-' || id, id, 'USD', 10000 + id * 37 % 90000,"
                " CURRENT_DATE - 10, 'open', false, now(), now() FROM debtor"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO handoff_ticket (debtor_id, status, reasons, opened_at, created_at,"
                " updated_at) SELECT id, 'open', '[\"person_requested\"]',"
                " now() - (id || ' seconds')::interval, now(), now() FROM debtor"
            )
        )
        await link_every_debtor(conn, CHAT_BASE)
    await vacuum(engine)
    await engine.dispose()


async def _staff(sessions, count: int, prefix: str) -> list[int]:
    from bot.staff.accounts import create_staff

    ids = []
    async with sessions.begin() as s:
        for i in range(count):
            staff = await create_staff(
                s, f"{prefix}{i}", PASSWORD, "agent", now=datetime.now(UTC), actor="bench",
                display_name=f"Agent {i}",
            )  # fmt: skip
            ids.append(staff.id)
    return ids


async def relay(url: str, messages: int, consoles: int) -> dict[str, float]:
    """Part (a): debtor message → every console's WebSocket."""
    from bot.app import running
    from bot.channels.telegram.ratelimit import ChatRateLimiter
    from bot.db.engine import create_engine, session_factory
    from bot.handoff import claims
    from bot.policy import load_policy
    from bot.sandbox import BotApiServer, RateLimits
    from bot.settings import load_settings

    debtors = 20
    await _tickets(url, debtors)
    engine = create_engine(url)
    sessions = session_factory(engine)
    (agent,) = await _staff(sessions, 1, "relay")
    policy = load_policy()
    async with sessions.begin() as s:
        ticket_ids = list(await s.scalars(text("SELECT id FROM handoff_ticket ORDER BY id")))
        for ticket_id in ticket_ids:
            await claims.claim(s, ticket_id, agent, datetime.now(UTC), policy)
    chats = [CHAT_BASE + i for i in range(1, debtors + 1)]

    server = BotApiServer(rate_limits=RateLimits(enabled=False))
    server.add_bot(TOKEN, username=BOT, first_name="Bench")
    await server.start()
    settings = load_settings(
        database_url=url, bot_token=TOKEN, telegram_api_url=server.base_url, web_port=0
    )
    latencies: list[float] = []
    try:
        async with (
            running(settings, rate_limiter=ChatRateLimiter(), reminders=False) as process,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        ):
            base = process.web_url + "/console"
            async with http.get(f"{base}/login") as page:
                body = await page.text()
            csrf = body.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            async with http.post(
                f"{base}/login",
                data={"username": "relay0", "password": PASSWORD, "csrf": csrf},
                allow_redirects=False,
            ) as signed:
                assert signed.status in (302, 303), signed.status
            sockets = [await http.ws_connect(f"{base}/live") for _ in range(consoles)]
            for ws in sockets:
                hello = json.loads((await ws.receive()).data)
                assert hello["kind"] == "hello", hello
            for n in range(messages + debtors):
                chat = chats[n % debtors]
                user = {"id": chat, "first_name": f"U{chat}", "language_code": "en"}
                started = time.perf_counter()
                server.send_text(BOT, user, f"message {n}")
                arrivals = await asyncio.gather(*(_message_in(ws) for ws in sockets))
                # The first message of each debtor also gets the "a person is with you" note;
                # the warm-up round (one per debtor) is left out of the figures.
                if n >= debtors:
                    latencies += [(at - started) * 1000 for at in arrivals]
            for ws in sockets:
                await ws.close()
    finally:
        await server.stop()
        await engine.dispose()
    return {
        "samples": len(latencies),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
    }


async def _message_in(ws: aiohttp.ClientWebSocketResponse) -> float:
    while True:
        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if event["kind"] == "message" and event["data"].get("direction") == "in":
            return time.perf_counter()


async def claiming(url: str, tickets: int, agents: int, *, pick: bool) -> dict[str, float]:
    """Part (b): many agents claiming from a long queue at once: each picking a ticket among
    the oldest 50 (``pick``), or taking the next one."""
    from bot.db.engine import create_engine, session_factory
    from bot.db.models import HandoffTicket, TicketStatus
    from bot.handoff import claims
    from bot.policy import load_policy

    await _tickets(url, tickets)
    engine = create_engine(url, pool_size=agents, max_overflow=0)
    sessions = session_factory(engine)
    staff = await _staff(sessions, agents, "picker" if pick else "taker")
    policy = load_policy()
    winners: dict[int, list[int]] = defaultdict(list)
    lost = 0

    async def agent(staff_id: int) -> None:
        nonlocal lost
        rng = random.Random(staff_id)
        while not pick:
            async with sessions.begin() as s:
                result = await claims.claim_next(s, staff_id, datetime.now(UTC), policy)
            if not result.won:
                return
            winners[result.ticket_id].append(staff_id)
        while True:
            async with sessions() as s:
                offered = list(
                    await s.scalars(
                        select(HandoffTicket.id)
                        .where(HandoffTicket.status == TicketStatus.OPEN)
                        .order_by(HandoffTicket.opened_at, HandoffTicket.id)
                        .limit(50)
                    )
                )
            if not offered:
                return
            ticket_id = rng.choice(offered)
            async with sessions.begin() as s:
                result = await claims.claim(s, ticket_id, staff_id, datetime.now(UTC), policy)
            if result.won:
                winners[ticket_id].append(staff_id)
            else:
                lost += 1

    started = time.perf_counter()
    await asyncio.gather(*(agent(i) for i in staff))
    elapsed = time.perf_counter() - started
    async with sessions() as s:
        unclaimed = await s.scalar(
            text("SELECT count(*) FROM handoff_ticket WHERE status = 'open'")
        )
    await engine.dispose()
    return {
        "claims": sum(len(w) for w in winners.values()),
        "seconds": elapsed,
        "claims_per_s": sum(len(w) for w in winners.values()) / elapsed,
        "lost_races": lost,
        "double_claims": sum(1 for w in winners.values() if len(w) > 1),
        "left_unclaimed": unclaimed,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--consoles", type=int, default=20)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=50)
    args = parser.parse_args()
    await fresh_database(args.pg)
    a = await relay(args.pg, args.messages, args.consoles)
    print(
        f"(a) relay, {args.consoles} consoles, {a['samples']} deliveries: "
        f"p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms "
        f"(goal p99 < 100 ms: {a['p99_ms'] / 100:.2f} of it)"
    )
    for pick, how in ((False, "taking the next"), (True, "picking among the oldest 50")):
        b = await claiming(args.pg, args.tickets, args.agents, pick=pick)
        print(
            f"(b) claims, {args.agents} agents {how}, {args.tickets} tickets: {b['claims']} "
            f"claimed in {b['seconds']:.2f} s = {b['claims_per_s']:.0f}/s (goal ≥ 1,000: "
            f"{b['claims_per_s'] / 1000:.2f}×), {b['lost_races']} attempts lost to another "
            f"agent, double claims {b['double_claims']} (must be 0), left unclaimed "
            f"{b['left_unclaimed']}"
        )


if __name__ == "__main__":
    asyncio.run(main())
