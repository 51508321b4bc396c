"""Writing the contact log and the audit trail: every message in and out, every change of state."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import OutMessage
from bot.db.engine import insert_for
from bot.db.models import AuditEvent, ContactLog, ContactStatus, Direction


async def log_inbound(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: int,
    debtor_id: int | None,
    kind: str,
    text: str | None,
    message_id: int | None,
    update_id: int,
    at: datetime,
) -> int | None:
    """Record a message a person sent us, and return its row's id; None when this update is
    on record already (the channel delivered it again), and then nothing is written."""
    row = dict(
        debtor_id=debtor_id, channel=channel, chat_id=chat_id, direction=Direction.IN, kind=kind,
        text=storable(text), telegram_message_id=message_id, update_id=update_id,
        status=ContactStatus.RECEIVED, created_at=at,
    )  # fmt: skip
    inserted = await session.execute(_inbound_once(session.bind.dialect.name), row)
    return inserted.scalar()


@cache
def _inbound_once(dialect: str) -> Insert:
    """``INSERT … ON CONFLICT (channel, update_id) DO NOTHING RETURNING id``, built once per
    database kind (every update runs it); on the table, without the ORM's bulk machinery."""
    table = ContactLog.__table__
    return (
        insert_for(dialect)(table)
        .on_conflict_do_nothing(index_elements=["channel", "update_id"])
        .returning(table.c.id)
    )


def outbound_row(
    *,
    channel: str,
    chat_id: int,
    debtor_id: int | None,
    message: OutMessage,
    at: datetime,
    outcome: dict[str, object],
) -> dict[str, object]:
    """The contact-log row of a message we send: ``outcome`` is ``outcome_of`` an attempt, or
    ``pending`` for a reply stored before it is sent."""
    return dict(
        debtor_id=debtor_id, channel=channel, chat_id=chat_id, direction=Direction.OUT,
        kind=message.kind, text=message.text, template_key=message.template_key,
        template_version=message.template_version, template_locale=message.template_locale,
        created_at=at, **outcome,
    )  # fmt: skip


def pending(markup: dict[str, object] | None) -> dict[str, object]:
    """A reply stored before sending, with its buttons or keyboard."""
    return dict(status=ContactStatus.PENDING, markup=markup)


def outcome_of(message_id: int | None, error: str | None, at: datetime) -> dict[str, object]:
    """What the contact log keeps of an attempt to send: sent, or failed and why."""
    return dict(
        telegram_message_id=message_id, error=error,
        status=ContactStatus.FAILED if error else ContactStatus.SENT,
        sent_at=None if error else at,
    )  # fmt: skip


def audit(
    session: AsyncSession,
    debtor_id: int | None,
    kind: str,
    *,
    actor: str,
    at: datetime,
    detail: str | None = None,
) -> None:
    """Append one event to the audit trail."""
    detail = storable(detail)
    session.add(
        AuditEvent(debtor_id=debtor_id, kind=kind, actor=actor, detail=detail, created_at=at)
    )


def storable(text: str | None) -> str | None:
    """Text as PostgreSQL can keep it: a NUL character (which it refuses) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd") if text else text
