"""Replies stored with the turn that wrote them, sent once it has committed.

A turn's replies go into the contact log as ``pending`` rows in the turn's own transaction,
with their buttons or keyboard, claimed by the process that handles the turn (its worker
lease, bot/db/workers.py). Once the turn has committed they are sent, in order: each row
becomes ``sending`` the moment its request starts, then ``sent`` (with the channel's message
id) or ``failed``. After one reply fails, the ones after it are not sent either: a
conversation with a gap would not make sense.

A process that stops between the commit and the sending (a crash, a kill, a lost machine)
leaves its replies pending under a lease that runs out. Every process sweeps now and then:
a pending reply whose process's lease has run out is taken over (one process wins each row)
and sent, in order per chat; one pending for longer than ``EXPIRE`` is marked failed instead,
since an answer that late would confuse more than help. A reply still ``sending`` when its
process's lease ran out may or may not have reached the person: it is marked failed as
"interrupted" and never sent again. A live process held back by Telegram keeps its lease,
so its replies are never taken from it: none is sent twice, none is lost.

Agents' replies (kind ``agent``, bot/services/agent.py) are stored and sent the same way, and
so are the bot's own notices about a ticket. Consoles watch the replies of a chat whose debtor
has a ticket, and every agent's reply: when such a reply becomes ``sent`` or ``failed``, a
``delivery`` console event is written in the same transaction (:func:`announce`, which the
sender's recorder runs).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import (
    Button,
    ChannelUnreachable,
    OutMessage,
    ReplyKeyboard,
    Sender,
    SendError,
    Withdrawn,
)
from bot.compliance.records import outbound_row, pending
from bot.conversation.watched import AGENT, announce, standing, watching
from bot.db.models import (
    ContactLog,
    ContactStatus,
    Direction,
    TicketStatus,
)
from bot.db.workers import Claimed, orphaned

log = logging.getLogger(__name__)

EXPIRE = timedelta(hours=1)
# How old a reply of this process must be before a sweep takes it as left behind by a failure.
STRAY = timedelta(seconds=30)
SWEEP_EVERY = 10.0
# Replies taken over in one sweep at most; more wait for the next.
BATCH = 200

# One reply: its contact-log row, the message, and the language of its keyboard's labels.
Pending = tuple[int, OutMessage, str | None]


def markup_of(message: OutMessage, locale: str | None) -> dict[str, Any] | None:
    """A message's buttons or keyboard as the contact log keeps them."""
    if not message.buttons and message.reply_keyboard is None:
        return None
    return {
        "buttons": [
            [{"label": b.label, "data": b.data, "url": b.url} for b in row]
            for row in message.buttons
        ],
        "keyboard": message.reply_keyboard.value if message.reply_keyboard else None,
        "locale": locale,
    }


def message_of(row: Any) -> tuple[OutMessage, str | None]:
    """The message a contact-log row of a reply holds, and its keyboard's language."""
    markup = row.markup or {}
    keyboard = markup.get("keyboard")
    message = OutMessage(
        row.text or "",
        buttons=[[Button(**b) for b in r] for r in markup.get("buttons", [])],
        reply_keyboard=ReplyKeyboard(keyboard) if keyboard else None,
        kind=row.kind,
        template_key=row.template_key,
        template_version=row.template_version,
        template_locale=row.template_locale,
    )
    return message, markup.get("locale")


async def queue(
    s: AsyncSession,
    *,
    channel: str,
    chat_id: int,
    debtor_id: int | None,
    messages: Sequence[OutMessage],
    locale: str | None,
    at: datetime,
    claimed_by: str,
    staff_id: int | None = None,
) -> list[Pending]:
    """Store a turn's replies as pending, in the turn's transaction, in the care of the
    process ``claimed_by`` (``staff_id``: the agent who wrote them)."""
    if not messages:
        return []
    rows = [
        outbound_row(
            channel=channel,
            chat_id=chat_id,
            debtor_id=debtor_id,
            message=m,
            at=at,
            outcome=pending(markup_of(m, locale)),
        )
        for m in messages
    ]
    for row in rows:
        row["claimed_by"] = claimed_by
        if staff_id is not None:
            row["staff_id"] = staff_id
    table = ContactLog.__table__
    if len(rows) == 1:
        # Most turns answer with one message: a plain INSERT, cheaper than a batch.
        ids = await s.execute(insert(table).returning(table.c.id), rows[0])
    else:
        ids = await s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
    return [(log_id, m, locale) for log_id, m in zip(ids.scalars(), messages, strict=True)]


async def deliver(
    sender: Sender,
    sessions: async_sessionmaker[AsyncSession],
    chat_id: int,
    debtor_id: int | None,
    replies: Sequence[Pending],
    *,
    watched: bool = False,
) -> ChannelUnreachable | None:
    """Send one chat's stored replies in order (``watched``: consoles hear of each delivery).
    A chat that blocked the bot ends it quietly, returning why; any other failure marks the
    rest failed and is raised."""
    table = ContactLog.__table__
    ids = [log_id for log_id, _, _ in replies]
    sender.lease.hold(table, ids)  # type: ignore[arg-type]
    try:
        with watching(watched):
            for n, (log_id, message, locale) in enumerate(replies):
                try:
                    await sender.send(
                        chat_id, message, debtor_id=debtor_id, locale=locale, log_id=log_id,
                        handover=Claimed.reply(sender.lease, log_id),
                    )  # fmt: skip
                except Withdrawn:
                    return None  # another process took these replies over and sends them
                except SendError as exc:
                    rest = [later for later, _, _ in replies[n + 1 :]]
                    if rest:
                        await _fail(sessions, rest, "not sent: an earlier reply failed", watched)
                    if isinstance(exc, ChannelUnreachable):
                        return exc
                    raise
    finally:
        sender.lease.let_go(table, ids)  # type: ignore[arg-type]
    return None


async def _fail(
    sessions: async_sessionmaker[AsyncSession], ids: list[int], why: str, watched: bool
) -> None:
    async with sessions.begin() as s:
        failed = await s.execute(
            update(ContactLog)
            .where(ContactLog.id.in_(ids))
            .values(status=ContactStatus.FAILED, error=why)
            .returning(ContactLog.id, ContactLog.kind)
        )
        said = [(log_id, {"status": ContactStatus.FAILED, "error": why})
                for log_id, kind in failed.all() if watched or kind == AGENT]  # fmt: skip
        if said:
            await announce(s, [], said, now=None)


class ReplySweeper:
    """Sends the replies a stopped process left pending; marks the very late ones failed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        clock: Callable[[], datetime],
        every: float = SWEEP_EVERY,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.clock = clock
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sweep every ``every`` seconds in the background."""
        self._task = asyncio.create_task(self._run(), name="reply-sweeper")

    async def stop(self) -> None:
        """Stop sweeping; a sweep in progress is abandoned (what it took stays taken)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping pending replies failed; the next sweep tries again")

    async def sweep(self) -> int:
        """Take over the replies of processes whose lease ran out and send them; how many
        were taken."""
        # One sweep of this process at a time takes rows, and holds what it took before the
        # next one looks (a row of this process not in hand counts as left behind).
        async with self.sender.lease.sweeping:
            taken, tickets = await self._take()
            self.sender.lease.hold(ContactLog.__table__, [r.id for r in taken])  # type: ignore[arg-type]
        chats: defaultdict[tuple[int, int | None], list[Pending]] = defaultdict(list)
        for row in taken:
            chats[(row.chat_id, row.debtor_id)].append((row.id, *message_of(row)))
        if chats:
            log.warning("sending %d replies a stopped process left unsent", len(taken))
        results = await asyncio.gather(
            *(
                deliver(
                    self.sender,
                    self.sessions,
                    chat_id,
                    debtor_id,
                    replies,
                    watched=debtor_id in tickets,
                )
                for (chat_id, debtor_id), replies in chats.items()
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("a pending reply could not be sent: %s", type(result).__name__)
        return len(taken)

    async def _take(self) -> tuple[list[ContactLog], dict[int, str]]:
        """Fail what is too late or was interrupted, and take what nobody is sending."""
        now = self.clock()
        out = ContactLog.direction == Direction.OUT
        async with self.sessions.begin() as s:
            expired = await s.execute(
                update(ContactLog)
                .where(
                    out,
                    ContactLog.status == ContactStatus.PENDING,
                    ContactLog.created_at < now - EXPIRE,
                )
                .values(status=ContactStatus.FAILED, error=LATE)
                .returning(ContactLog.id, ContactLog.debtor_id, ContactLog.kind)
            )
            expired_rows = expired.all()
            unheld = self.sender.lease.unheld(ContactLog.__table__)  # type: ignore[arg-type]
            # A reply of this very process is only taken as left behind once it is a while old
            # (its turn may have committed a moment ago, its sending not begun yet).
            nobodys = or_(
                orphaned(ContactLog.claimed_by), and_(unheld, ContactLog.created_at < now - STRAY)
            )
            cut = await s.execute(
                update(ContactLog)
                .where(out, ContactLog.status == ContactStatus.SENDING, nobodys)
                .values(status=ContactStatus.FAILED, error=INTERRUPTED)
                .returning(ContactLog.id, ContactLog.debtor_id, ContactLog.kind)
            )
            cut_rows = cut.all()
            if cut_rows:
                log.warning(
                    "%d replies were being sent by a process that stopped; whether they"
                    " arrived is unknown, so they are not sent again",
                    len(cut_rows),
                )
            stale = (
                (
                    await s.execute(
                        select(ContactLog)
                        .where(out, ContactLog.status == ContactStatus.PENDING, nobodys)
                        .order_by(ContactLog.id)
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
            ended = expired_rows + cut_rows
            debtors = {r.debtor_id for r in stale} | {d for _, d, _ in ended}
            tickets, stopped = await standing(s, debtors - {None})
            for rows, why in ((expired_rows, LATE), (cut_rows, INTERRUPTED)):
                await _announce_failed(
                    s, [(i, k) for i, d, k in rows if k == AGENT or d in tickets], why, now
                )
            taken: list[ContactLog] = []
            dropped: list[tuple[int, str]] = []
            for row in stale:
                why = _not_now(row, tickets, stopped)
                # Another process sweeping at once waits for this one's commit, then finds
                # the row claimed by a live process.
                took = await s.execute(
                    update(ContactLog)
                    .where(
                        ContactLog.id == row.id,
                        ContactLog.status == ContactStatus.PENDING,
                        nobodys,
                    )
                    .values(
                        status=ContactStatus.FAILED if why else ContactStatus.PENDING,
                        error=why,
                        claimed_by=None if why else self.sender.lease.name,
                    )
                )
                if took.rowcount == 1:
                    if why:
                        dropped.append((row.id, why))
                    else:
                        taken.append(row)
            for log_id, why in dropped:
                await _announce_failed(s, [(log_id, AGENT)], why, now)
        return taken, tickets


LATE = "not sent: the bot stopped first"
INTERRUPTED = "interrupted: delivery unknown, not resent"
HELD = "not sent: a person has taken the conversation over"
STOPPED = "not sent: the debtor may no longer be contacted"


def _not_now(row: ContactLog, tickets: dict[int, str], stopped: set[int]) -> str | None:
    """Why a reply left pending must not go out any more, as things stand now."""
    if row.kind == AGENT:
        return STOPPED if row.debtor_id in stopped else None
    # The bot's answer from before a claim would talk over the agent.
    return HELD if tickets.get(row.debtor_id) == TicketStatus.CLAIMED else None


async def _announce_failed(
    s: AsyncSession, rows: list[tuple[int, str]], why: str, now: datetime
) -> None:
    failed = {"status": ContactStatus.FAILED, "error": why}
    if rows:
        await announce(s, [], [(log_id, failed) for log_id, _ in rows], now=now)
