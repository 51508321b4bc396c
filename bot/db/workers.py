"""A process's lease on the work it claims, kept by a heartbeat, and hand-overs to a channel.

Every process that claims messages to send (reminders in ``reminder_outbox``, replies in
``contact_log``) registers itself in ``worker`` and renews its lease every third of
``lease_seconds``. A claim names the process; a claim whose process's lease has run out (it
was killed, lost its machine, or stalled past the lease) is free for any other to take over.

A claimed message is *handed over* at the moment its request to the channel starts: its row
goes from claimed to ``sending`` in a conditional update that only the claim's owner can make,
once. A row claimed by a process that died before that moment was never sent, and another
process sends it; only a row still ``sending`` when its process died may or may not have
reached the person, and is never resent. Hand-overs arriving together share one statement and
one commit, like the contact log's records.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.batch import GroupCommit
from bot.db.models import ContactLog, ContactStatus, OutboxStatus, ReminderOutbox, Worker

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0
# A process whose lease ran out this long ago leaves the register (seconds).
FORGET_AFTER = 24 * 3600


def worker_name() -> str:
    """A name no other process has: the host, the process id and a random part."""
    return f"{socket.gethostname()[:36]}:{os.getpid()}:{secrets.token_hex(3)}"


def live_workers() -> Any:
    """The names of processes whose lease holds now, as a subquery."""
    return select(Worker.name).where(Worker.alive_until > time.time()).scalar_subquery()


def orphaned(claimed_by: Any) -> ColumnElement[bool]:
    """A claim no live process holds (or none was ever made)."""
    return or_(claimed_by.is_(None), claimed_by.not_in(live_workers()))


class WorkerLease:
    """This process as a worker: its name on claims, its heartbeat, its hand-overs."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float = LEASE_SECONDS,
        name: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.lease_seconds = lease_seconds
        self.name = name or worker_name()
        self._heart: asyncio.Task[None] | None = None
        # The rows this process is working on now (table name, id); a row claimed in its name
        # and not among them was left behind by a failure (the database went away mid-send).
        self._in_hand: set[tuple[str, int]] = set()
        # Held while this process's sweeps take rows over (bot/conversation/replies.py).
        self.sweeping = asyncio.Lock()
        self._hand_overs: GroupCommit[tuple[Table, str, int], bool] = GroupCommit(
            sessions, self._write
        )

    def hold(self, table: Table, ids: Iterable[int]) -> None:
        """These rows are being worked on by this process now."""
        self._in_hand.update((table.name, row_id) for row_id in ids)

    def let_go(self, table: Table, ids: Iterable[int]) -> None:
        """Done with these rows (settled, or given up)."""
        self._in_hand.difference_update((table.name, row_id) for row_id in ids)

    def unheld(self, table: Table) -> ColumnElement[bool]:
        """Rows nobody is working on: claimed by no live process, or by this one and left
        behind (not in hand)."""
        mine = [row_id for name, row_id in self._in_hand if name == table.name]
        left_behind = table.c.claimed_by == self.name
        if mine:
            left_behind = and_(left_behind, table.c.id.not_in(mine))
        return or_(orphaned(table.c.claimed_by), left_behind)

    async def start(self) -> None:
        """Register and keep the lease alive in the background until ``stop``; forget the
        processes that died a day ago or more."""
        await self.beat()
        async with self.sessions.begin() as s:
            await s.execute(delete(Worker).where(Worker.alive_until < time.time() - FORGET_AFTER))
        self._heart = asyncio.create_task(self._beating(), name="worker-heartbeat")

    async def stop(self) -> None:
        """Stop the heartbeat, give back what was claimed and not handed over (another
        process takes it at once), and leave the register."""
        heart, self._heart = self._heart, None
        if heart is not None:
            heart.cancel()
            try:
                await heart
            except asyncio.CancelledError:
                pass
        try:
            async with self.sessions.begin() as s:
                await self._release(s)
                await s.execute(delete(Worker).where(Worker.name == self.name))
        except Exception:
            log.warning("could not give back this process's claims; its lease runs out instead")

    async def _release(self, s: AsyncSession) -> None:
        """Give back every claim of this process that was not handed over."""
        await s.execute(
            update(ReminderOutbox)
            .where(
                ReminderOutbox.claimed_by == self.name,
                ReminderOutbox.status == OutboxStatus.CLAIMED,
            )
            .values(status=OutboxStatus.PENDING, claimed_by=None)
        )
        await s.execute(
            update(ContactLog)
            .where(ContactLog.claimed_by == self.name, ContactLog.status == ContactStatus.PENDING)
            .values(claimed_by=None)
        )

    async def beat(self) -> None:
        """Renew the lease (registering again if another process removed an expired one)."""
        until = time.time() + self.lease_seconds
        async with self.sessions.begin() as s:
            renewed = await s.execute(
                update(Worker).where(Worker.name == self.name).values(alive_until=until)
            )
            if not renewed.rowcount:
                await s.execute(
                    insert(Worker).values(name=self.name, started=time.time(), alive_until=until)
                )

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.beat()
            except Exception as exc:  # the database may be restarting; beat again soon
                log.warning("could not renew this process's lease: %s", type(exc).__name__)

    async def hand_over(self, table: Table, row_id: int, claimed: str) -> bool:
        """Mark one claimed row (status ``claimed``) as being sent now; False if this process
        no longer holds it (another took it over), and then it must not be sent."""
        return await self._hand_overs.submit((table, claimed, row_id))

    async def _write(self, s: AsyncSession, batch: list[tuple[Table, str, int]]) -> list[bool]:
        wanted: defaultdict[tuple[Table, str], list[int]] = defaultdict(list)
        for table, claimed, row_id in batch:
            wanted[(table, claimed)].append(row_id)
        taken: set[tuple[str, int]] = set()
        for (table, claimed), ids in wanted.items():
            result = await s.execute(
                update(table)
                .where(
                    table.c.id.in_(ids),
                    table.c.status == claimed,
                    table.c.claimed_by == self.name,
                )
                .values(status="sending")
                .returning(table.c.id)
            )
            taken.update((table.name, row_id) for row_id in result.scalars())
        return [(table.name, row_id) in taken for table, _, row_id in batch]


class Claimed:
    """One claimed row's hand-over (bot.channel.Handover): ``begin`` as its request starts."""

    def __init__(self, lease: WorkerLease, table: Table, row_id: int, claimed: str) -> None:
        self.lease, self.table, self.row_id, self.claimed = lease, table, row_id, claimed
        # Whether the row is marked as being sent: from then on, sent or not cannot be known.
        self.begun = False

    async def begin(self) -> bool:
        """Mark the row as being sent; False if this process no longer holds it."""
        self.begun = await self.lease.hand_over(self.table, self.row_id, self.claimed)
        return self.begun

    async def undo(self) -> None:
        """Back to claimed: the channel asked to wait and has not taken it."""
        async with self.lease.sessions.begin() as s:
            await s.execute(
                update(self.table)
                .where(
                    self.table.c.id == self.row_id,
                    self.table.c.status == "sending",
                    self.table.c.claimed_by == self.lease.name,
                )
                .values(status=self.claimed)
            )
        self.begun = False

    @classmethod
    def reply(cls, lease: WorkerLease, log_id: int) -> Claimed:
        """A stored reply (``contact_log``, pending)."""
        return cls(lease, ContactLog.__table__, log_id, ContactStatus.PENDING)  # type: ignore[arg-type]

    @classmethod
    def reminder(cls, lease: WorkerLease, outbox_id: int) -> Claimed:
        """A claimed reminder (``reminder_outbox``)."""
        return cls(lease, ReminderOutbox.__table__, outbox_id, OutboxStatus.CLAIMED)  # type: ignore[arg-type]
