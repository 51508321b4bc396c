"""Collection work: promises, plans, handoff tickets, staff, template versions, reminder outbox."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime


class PromiseStatus(StrEnum):
    """Life of a promise to pay."""

    OPEN = "open"
    KEPT = "kept"
    PARTIAL = "partial"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PlanStatus(StrEnum):
    """Life of a repayment plan."""

    REVIEW = "review"  # outside policy: waits for an agent
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class TicketStatus(StrEnum):
    """Life of a handoff ticket in the agent queue."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class OutboxStatus(StrEnum):
    """Every reminder ends in one of these, with a reason."""

    PENDING = "pending"
    # Taken by one process (``claimed_by``, a live worker) and being checked; not yet sent.
    CLAIMED = "claimed"
    # Handed to the channel: its request has started. Only these can be "delivery unknown".
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Promise(IdMixin, TimestampMixin, Base):
    """A debtor's promise to pay an amount by a date."""

    __tablename__ = "promise"
    __table_args__ = (Index(None, "status", "promised_date"),)

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("account.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger())
    currency: Mapped[str] = mapped_column(String(3))
    promised_date: Mapped[date] = mapped_column(Date())
    status: Mapped[str] = mapped_column(String(16), default=PromiseStatus.OPEN)
    paid_minor: Mapped[int] = mapped_column(BigInteger(), default=0)
    source: Mapped[str] = mapped_column(String(16))  # "debtor" in chat, "staff:<id>"
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)


class RepaymentPlan(IdMixin, TimestampMixin, Base):
    """An agreed schedule of installments for one account."""

    __tablename__ = "repayment_plan"

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("account.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    total_minor: Mapped[int] = mapped_column(BigInteger())
    currency: Mapped[str] = mapped_column(String(3))
    installment_count: Mapped[int] = mapped_column(Integer())
    source: Mapped[str] = mapped_column(String(16))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    installments: Mapped[list[PlanInstallment]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanInstallment.seq"
    )


class PlanInstallment(IdMixin, Base):
    """One dated amount of a repayment plan."""

    __tablename__ = "plan_installment"
    __table_args__ = (Index(None, "plan_id", "seq", unique=True),)

    plan_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("repayment_plan.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer())
    due_date: Mapped[date] = mapped_column(Date(), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger())
    paid_minor: Mapped[int] = mapped_column(BigInteger(), default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, paid, missed
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[RepaymentPlan] = relationship(back_populates="installments")


class StaffUser(IdMixin, TimestampMixin, Base):
    """An agent or admin of the web console."""

    __tablename__ = "staff_user"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # "agent" or "admin"
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Failed sign-ins in a row; at the policy's limit the account is locked until the instant.
    failed_logins: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(IdMixin, Base):
    """A signed-in browser: a table, so any process serves any request and sign-outs revoke."""

    __tablename__ = "staff_session"

    staff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    # Only the SHA-256 of the cookie's random token is stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(200))


class HandoffTicket(IdMixin, TimestampMixin, Base):
    """A conversation handed to people; at most one open ticket per debtor."""

    __tablename__ = "handoff_ticket"
    __table_args__ = (
        Index(
            "uq_handoff_ticket_open_debtor",
            "debtor_id",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index(None, "status", "opened_at"),
    )

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("account.id"))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN)
    # Every reason that joined the ticket, oldest first: dispute, hardship, complaint, ...
    reasons: Mapped[list[str]] = mapped_column(JSON(), default=list)
    note: Mapped[str | None] = mapped_column(Text())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A claim is a lease, renewed by the holder's activity; past it the ticket is free again.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The debtor was told, once per claim, that a person is with them.
    team_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The debtor was told, once, when to expect an answer while nobody had claimed the ticket.
    waiting_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The newest contact-log row the holder has seen; debtor messages after it are unread.
    seen_log_id: Mapped[int | None] = mapped_column(BigId)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # For the queue's figures: the first claim and the first agent's message, and the time the
    # ticket spent back with the bot after a claim ended (released or expired), which does not
    # count towards the time to resolve.
    first_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bot_seconds: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    # One of bot.handoff.claims.OUTCOMES, with the agent's note.
    outcome: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(Text())


class StaffNote(IdMixin, Base):
    """A private note of an agent about a debtor, shown in the conversation and never sent."""

    __tablename__ = "staff_note"

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("handoff_ticket.id"))
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_user.id"))
    text: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CannedReply(IdMixin, TimestampMixin, Base):
    """A ready answer agents pick, per language, rendered by the message-template renderer."""

    __tablename__ = "canned_reply"
    __table_args__ = (Index(None, "title", "locale", unique=True),)

    title: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text())
    # Counts saves, so a contact-log row names the text an agent started from.
    version: Mapped[int] = mapped_column(Integer(), default=1)
    updated_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))


class ConsoleEvent(IdMixin, Base):
    """Something consoles show live, written in the transaction of the change itself.

    Ids increase, so a console asks for everything after the last one it saw; a process reads
    the table, so what one process committed reaches consoles connected to another.
    """

    __tablename__ = "console_event"

    # ticket_opened, ticket_changed, ticket_claimed, ticket_released, ticket_resolved,
    # message (a contact-log row), delivery (a reply's new state), note
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    debtor_id: Mapped[int | None] = mapped_column(BigId)
    data: Mapped[dict[str, object]] = mapped_column(JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class TemplateVersion(IdMixin, Base):
    """One saved version of a message template in one locale (version 0 is the shipped file).

    A version is saved as a draft; the one published last is in use. Versions are never changed
    or deleted: going back to an old text saves it again as a new version (``based_on``).
    """

    __tablename__ = "template_version"
    __table_args__ = (Index(None, "key", "locale", "version", unique=True),)

    key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer())
    body: Mapped[str] = mapped_column(Text())
    comment: Mapped[str] = mapped_column(Text(), default="")
    # The version this one was edited from or reverts to (0: the shipped file).
    based_on: Mapped[int | None] = mapped_column(Integer())
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReminderOutbox(IdMixin, Base):
    """A planned proactive message; the dedupe key makes planning idempotent."""

    __tablename__ = "reminder_outbox"
    __table_args__ = (
        Index(None, "status", "not_before"),
        # Results: what was sent, and what was planned, during a period.
        Index(None, "sent_at"),
        Index(None, "planned_at"),
        # Each experiment arm's debtors and their first message, read from the index alone.
        Index(
            "ix_reminder_outbox_experiment_exposure",
            "experiment_id",
            "arm",
            "debtor_id",
            "status",
            "sent_at",
            sqlite_where=text("experiment_id IS NOT NULL"),
            postgresql_where=text("experiment_id IS NOT NULL"),
        ),
        # The funnel's debtors reached by a stage reminder during a period, from the index.
        Index(
            "ix_reminder_outbox_stage_sent_at",
            "sent_at",
            "debtor_id",
            sqlite_where=text("status = 'sent' AND kind = 'stage'"),
            postgresql_where=text("status = 'sent' AND kind = 'stage'"),
        ),
    )

    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # "stage", "promise_due", "promise_kept" ...
    stage: Mapped[str | None] = mapped_column(String(32))
    template_key: Mapped[str] = mapped_column(String(64))
    # The accounts the message covered, filled in when it is sent.
    account_ids: Mapped[list[int] | None] = mapped_column(JSON())
    promise_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promise.id"))
    installment_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("plan_installment.id"))
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    contact_log_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact_log.id"))
    # The experiment arm ("control", "challenger") the message was sent in, if any.
    experiment_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("template_experiment.id"))
    arm: Mapped[str | None] = mapped_column(String(16))
    # How often the row was put off by the contact window, and by the gap between messages
    # or the non-responder's time of day (channel health counts them).
    window_deferrals: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    gap_deferrals: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
