"""Debtors, their phones, accounts (debts), payments and the audit trail of holds and flags."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime


class AccountStatus(StrEnum):
    """Where a debt stands."""

    OPEN = "open"
    PAID = "paid"
    CLOSED = "closed"  # withdrawn by the creditor, settled elsewhere, written off


class Debtor(IdMixin, TimestampMixin, Base):
    """A person who owes; holds and flags are instants (NULL = not set)."""

    __tablename__ = "debtor"

    debtor_ref: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cease_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispute_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deceased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bankruptcy_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hardship_until: Mapped[date | None] = mapped_column(Date())
    vulnerable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)

    phones: Mapped[list[DebtorPhone]] = relationship(
        back_populates="debtor", cascade="all, delete-orphan", order_by="DebtorPhone.id"
    )
    accounts: Mapped[list[Account]] = relationship(back_populates="debtor", order_by="Account.id")


class DebtorPhone(IdMixin, Base):
    """One phone number of a debtor, in E.164."""

    __tablename__ = "debtor_phone"
    __table_args__ = (Index(None, "debtor_id", "phone_e164", unique=True),)

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id", ondelete="CASCADE"))
    phone_e164: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    debtor: Mapped[Debtor] = relationship(back_populates="phones")


class Account(IdMixin, TimestampMixin, Base):
    """One debt: what is owed now, in minor units of its currency, and since when."""

    __tablename__ = "account"
    __table_args__ = (Index(None, "status", "due_date"),)

    account_ref: Mapped[str] = mapped_column(String(64), unique=True)
    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"), index=True)
    product: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_due_minor: Mapped[int] = mapped_column(BigInteger())
    due_date: Mapped[date] = mapped_column(Date())
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.OPEN)
    dispute_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    late_fee_waived: Mapped[bool] = mapped_column(Boolean(), default=False)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why and when a CLOSED account was closed: "withdrawn" when a full file left it out.
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)

    debtor: Mapped[Debtor] = relationship(back_populates="accounts")

    @property
    def owed(self) -> bool:
        """Open, with something still to pay (what reminders, menus and flows are about)."""
        return self.status == AccountStatus.OPEN and self.amount_due_minor > 0


class Payment(IdMixin, Base):
    """Money received against an account, as reported by the creditor or a payment provider."""

    __tablename__ = "payment"

    payment_ref: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("account.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger())
    currency: Mapped[str] = mapped_column(String(3))
    # Indexed for results: money received during a period.
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEvent(IdMixin, Base):
    """Who changed what about a debtor and when: holds, opt-outs, failed verifications, links."""

    __tablename__ = "audit_event"

    debtor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("debtor.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64))  # "debtor", "system", "import", "staff:<id>"
    detail: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
