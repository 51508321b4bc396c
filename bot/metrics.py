"""What a process reports at ``GET /metrics``, in Prometheus's text format.

Each process has its own registry (tests run several in one interpreter). Counters and
histograms are kept as things happen, by the adapters; the depths of the outbox, the pending
replies and the agent queue are read from the database when scraped, so every process reports
the same figures for what they share. No label carries a chat, a debtor or a text.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import (
    ContactLog,
    ContactStatus,
    Direction,
    HandoffTicket,
    OutboxStatus,
    ReminderOutbox,
    TicketStatus,
    Worker,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One process's metrics."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.updates = Counter(
            "nudgebot_updates", "Updates received from a channel", ["channel"], registry=r
        )
        self.turns = Counter(
            "nudgebot_turns",
            "Turns by outcome: answered, silent (nothing to say), repeat (delivered before),"
            " failed (the person was asked to try again)",
            ["outcome"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "nudgebot_turn_seconds", "From an update's arrival to its turn's commit",
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.sent = Counter(
            "nudgebot_messages_sent",
            "Messages out by kind (reply, reminder, agent, ...) and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "nudgebot_send_seconds", "Sending one message, waits for the limits included",
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.too_many_requests = Counter(
            "nudgebot_telegram_429", "429 answers from the Bot API (each pauses every send)",
            registry=r,
        )  # fmt: skip
        self.outbox = Gauge(
            "nudgebot_outbox_rows",
            "Reminder outbox rows waiting: due now, later, claimed, being sent",
            ["state"],
            registry=r,
        )
        self.replies = Gauge(
            "nudgebot_pending_replies", "Replies stored and not yet sent, or being sent",
            ["state"], registry=r,
        )  # fmt: skip
        self.tickets = Gauge(
            "nudgebot_tickets", "Agent queue: open and claimed tickets", ["status"], registry=r
        )
        self.workers = Gauge("nudgebot_live_workers", "Processes whose lease holds", registry=r)

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], now: object) -> None:
        """Read the shared depths from the database (``now``: the business clock's instant)."""
        async with sessions() as s:
            outbox = dict.fromkeys(("due", "later", "claimed", "sending"), 0)
            due = func.sum(case((ReminderOutbox.not_before <= now, 1), else_=0))
            rows = await s.execute(
                select(ReminderOutbox.status, func.count(), due)
                .where(
                    ReminderOutbox.status.in_(
                        [OutboxStatus.PENDING, OutboxStatus.CLAIMED, OutboxStatus.SENDING]
                    )
                )
                .group_by(ReminderOutbox.status)
            )
            for status, count, due_now in rows:
                if status == OutboxStatus.PENDING:
                    outbox["due"] += due_now or 0
                    outbox["later"] += count - (due_now or 0)
                else:
                    outbox[status] += count
            for state, count in outbox.items():
                self.outbox.labels(state).set(count)
            replies = dict.fromkeys((ContactStatus.PENDING, ContactStatus.SENDING), 0)
            rows = await s.execute(
                select(ContactLog.status, func.count())
                .where(ContactLog.status.in_(list(replies)), ContactLog.direction == Direction.OUT)
                .group_by(ContactLog.status)
            )
            replies.update({status: count for status, count in rows})
            for state, count in replies.items():
                self.replies.labels(str(state)).set(count)
            tickets = dict.fromkeys((TicketStatus.OPEN, TicketStatus.CLAIMED), 0)
            rows = await s.execute(
                select(HandoffTicket.status, func.count())
                .where(HandoffTicket.status.in_(list(tickets)))
                .group_by(HandoffTicket.status)
            )
            tickets.update({status: count for status, count in rows})
            for status, count in tickets.items():
                self.tickets.labels(str(status)).set(count)
            live = await s.execute(select(func.count()).where(Worker.alive_until > time.time()))
            self.workers.set(live.scalar_one())

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
