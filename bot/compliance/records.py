"""Writing the contact log and the audit trail: every message in and out, every change of state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEvent, ContactLog, ContactStatus, Direction


def log_inbound(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: int,
    debtor_id: int | None,
    kind: str,
    text: str | None,
    message_id: int | None,
    at: datetime,
) -> ContactLog:
    """Record a message a person sent us."""
    entry = ContactLog(
        debtor_id=debtor_id,
        channel=channel,
        chat_id=chat_id,
        direction=Direction.IN,
        kind=kind,
        text=text,
        telegram_message_id=message_id,
        status=ContactStatus.RECEIVED,
        created_at=at,
    )
    session.add(entry)
    return entry


def log_outbound(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: int,
    debtor_id: int | None,
    kind: str,
    text: str,
    template_key: str | None,
    template_version: int | None,
    message_id: int | None,
    error: str | None,
    at: datetime,
) -> ContactLog:
    """Record a message we sent, or tried to send (``error`` set when it failed)."""
    entry = ContactLog(
        debtor_id=debtor_id,
        channel=channel,
        chat_id=chat_id,
        direction=Direction.OUT,
        kind=kind,
        text=text,
        template_key=template_key,
        template_version=template_version,
        telegram_message_id=message_id,
        status=ContactStatus.FAILED if error else ContactStatus.SENT,
        error=error,
        created_at=at,
        sent_at=None if error else at,
    )
    session.add(entry)
    return entry


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
    session.add(
        AuditEvent(debtor_id=debtor_id, kind=kind, actor=actor, detail=detail, created_at=at)
    )
