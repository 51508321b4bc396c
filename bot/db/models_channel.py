"""Chat channels: debtor-chat links, deep-link tokens, the contact log, dialogue state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, BigId, IdMixin, UTCDateTime

if TYPE_CHECKING:
    from bot.db.models_people import Debtor


class Direction(StrEnum):
    """Which way a message went."""

    IN = "in"
    OUT = "out"


class ContactStatus(StrEnum):
    """What became of a logged message."""

    RECEIVED = "received"
    # A reply stored with the turn that wrote it, not yet sent (see bot/conversation/replies.py),
    # in the care of the process ``claimed_by`` names.
    PENDING = "pending"
    # A reply handed to the channel: its request has started.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class ChannelLink(IdMixin, Base):
    """A chat bound to a debtor; only a verified link may see anything about a debt."""

    __tablename__ = "channel_link"
    # One chat belongs to one debtor; relinking it is an explicit, recorded act.
    __table_args__ = (Index(None, "channel", "chat_id", unique=True),)

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int] = mapped_column(BigInteger())
    user_id: Mapped[int | None] = mapped_column(BigInteger())
    # The deep-link token that brought this chat; failed proofs count against it.
    token_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("link_token.id"))
    language_code: Mapped[str | None] = mapped_column(String(16))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verify_method: Mapped[str | None] = mapped_column(String(16))  # "contact" or "knowledge"
    # The debtor's phone (E.164) a shared contact matched; when an import takes it away from
    # the debtor, the chat must verify again.
    verified_phone: Mapped[str | None] = mapped_column(String(16))
    failed_attempts: Mapped[int] = mapped_column(Integer(), default=0)
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    # Loaded with the link when a chat writes (see Dialogues.link_of), never lazily.
    debtor: Mapped[Debtor] = relationship(lazy="raise")


class LinkToken(IdMixin, Base):
    """A single-use deep-link token; only its SHA-256 is stored."""

    __tablename__ = "link_token"

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer(), default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ContactLog(IdMixin, Base):
    """Every message in and out, kept as the record of contact."""

    __tablename__ = "contact_log"
    __table_args__ = (
        Index(None, "debtor_id", "created_at"),
        # An update Telegram delivers again (a lost answer, another process) is handled once.
        Index(None, "channel", "update_id", unique=True),
        # Replies left pending by a process that stopped are found without a scan.
        Index(None, "status", "created_at"),
        # Results read a period of the log: a month is a few percent of a year's rows.
        Index(None, "created_at"),
        # Who wrote in during a period (replies, containment), from the index alone.
        Index(
            "ix_contact_log_in_created_at_debtor_id",
            "created_at",
            "debtor_id",
            sqlite_where=text("direction = 'in'"),
            postgresql_where=text("direction = 'in'"),
        ),
        # Whether a debtor wrote in after a given instant (the funnel's replies), from the index.
        Index(
            "ix_contact_log_in_debtor_id_created_at",
            "debtor_id",
            "created_at",
            sqlite_where=text("direction = 'in'"),
            postgresql_where=text("direction = 'in'"),
        ),
    )

    debtor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("debtor.id"))
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int | None] = mapped_column(BigInteger())
    direction: Mapped[str] = mapped_column(String(3))
    # reminder, reply, command, text, callback, contact, agent, system ...
    kind: Mapped[str] = mapped_column(String(24))
    template_key: Mapped[str | None] = mapped_column(String(64))
    template_version: Mapped[int | None] = mapped_column(Integer())
    # The language the template was rendered in (versions are numbered per language).
    template_locale: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text())
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger())
    # A reply's buttons or keyboard, and the language of the keyboard's labels, as stored
    # before sending (what the person was shown).
    markup: Mapped[dict[str, object] | None] = mapped_column(JSON(none_as_null=True))
    # The channel's id of the update a message in came with; none for messages out.
    update_id: Mapped[int | None] = mapped_column(BigInteger())
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text())
    # The agent who wrote a message out (kind "agent"); none for the bot's and the debtor's.
    staff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    # The process (a row of ``worker``) that is to send a reply; another takes over once that
    # process's lease has run out.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DialogueState(IdMixin, Base):
    """Where a chat stands in a guided flow; the database, not memory, is the truth."""

    __tablename__ = "dialogue_state"
    __table_args__ = (Index(None, "channel", "chat_id", unique=True),)

    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int] = mapped_column(BigInteger())
    debtor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    flow: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, object]] = mapped_column(JSON(), default=dict)
    unrecognised_count: Mapped[int] = mapped_column(Integer(), default=0)
    # Bumped on every change: two processes handling one chat detect each other's writes.
    version: Mapped[int] = mapped_column(Integer(), default=0)
    # Set by the conversation engine from its (injectable) clock, which also judges idleness.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
