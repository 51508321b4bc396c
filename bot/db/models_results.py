"""What results are measured from: each account's delinquency bucket over time, and template
experiments (two published versions of one message sharing its sends)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigId, IdMixin, UTCDateTime

# The buckets of an account that owes nothing (the rest are the book).
PAID_BUCKET, CLOSED_BUCKET = "paid", "closed"


class AccountBucket(IdMixin, Base):
    """One stretch of days an account spent in one bucket: a policy stage (``pre_due``,
    ``early``…, ``final``), ``current`` (not yet near its due date), ``paid`` or ``closed``.

    Recorded once a day from each debtor's local date, a row per change rather than per day,
    so a year of a million accounts is a few million rows. ``until_day`` is the first day in
    the next bucket (NULL: still in it). Figures for a past day read only this table, never
    today's accounts; a payment recorded late rewrites the stretches after the day it was made.
    """

    __tablename__ = "account_bucket"
    __table_args__ = (
        Index(None, "account_id", "from_day", unique=True),
        # "Which bucket was every account in on day D": the stretches that began by D and
        # had not ended, read by from_day.
        Index(None, "from_day", "until_day"),
        # One stage's stretches during a period (a figure kept to one stage): those still
        # open, and those that ended after the period began.
        Index(None, "bucket", "until_day"),
        # Accounts placed during a period: their first stretches, by the day they began.
        Index(
            "ix_account_bucket_opening_from_day",
            "from_day",
            sqlite_where=text("opening"),
            postgresql_where=text("opening"),
        ),
        # Accounts paid off during a period, and their debtors, from the index alone.
        Index(
            "ix_account_bucket_paid_from_day",
            "from_day",
            "debtor_id",
            sqlite_where=text("bucket = 'paid'"),
            postgresql_where=text("bucket = 'paid'"),
        ),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("account.id", ondelete="CASCADE"))
    # The debtor whose account it was on those days (another debtor begins another stretch):
    # figures count debtors straight from here, without joining a million accounts.
    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"))
    bucket: Mapped[str] = mapped_column(String(16))
    from_day: Mapped[date] = mapped_column(Date())
    until_day: Mapped[date | None] = mapped_column(Date())
    # What was owed on the stretch's first day (amounts of one currency only ever add up).
    balance_minor: Mapped[int] = mapped_column(BigInteger())
    currency: Mapped[str] = mapped_column(String(3))
    # The account's first stretch: the day it came into the book, with what was placed.
    opening: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DebtorOwing(IdMixin, Base):
    """One stretch of days a debtor owed something: their accounts' stretches outside ``paid``
    and ``closed``, run together (``account_bucket`` holds a row per account and bucket; this
    holds one per debtor and spell in the book, so the funnel counts a period's debtors with no
    grouping). Rebuilt for the debtors a recording touches (bot/results/owing.py).

    Each row also carries the debtor's first link sent, first linked and first verified
    instants, so the funnel's busiest steps are read from this row alone, without joining
    800,000 debtors' tokens and chats; they are refreshed at each recording.
    """

    __tablename__ = "debtor_owing"
    __table_args__ = (
        Index(None, "debtor_id", "from_day", unique=True),
        Index(None, "from_day", "until_day"),
    )

    debtor_id: Mapped[int] = mapped_column(BigId, ForeignKey("debtor.id"))
    from_day: Mapped[date] = mapped_column(Date())
    until_day: Mapped[date | None] = mapped_column(Date())  # the first day owing nothing
    # The debtor's spell before this one ended on this day (NULL: this is their first), so
    # "each debtor once" is a condition on the row: its spell before did not reach the period.
    prev_until: Mapped[date | None] = mapped_column(Date())
    link_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExperimentStatus(StrEnum):
    """An experiment runs until an admin stops it, keeping one of its versions."""

    RUNNING = "running"
    STOPPED = "stopped"


class TemplateExperiment(IdMixin, Base):
    """Two published versions of one message in one language sharing its sends.

    Each debtor always gets the same arm: a hash of the debtor and the experiment, against
    ``challenger_percent``. At most one experiment runs per message and language.
    """

    __tablename__ = "template_experiment"
    __table_args__ = (
        Index(
            "uq_template_experiment_running",
            "key",
            "locale",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    control_version: Mapped[int] = mapped_column(Integer())
    challenger_version: Mapped[int] = mapped_column(Integer())
    challenger_percent: Mapped[int] = mapped_column(Integer())
    status: Mapped[str] = mapped_column(String(16), default=ExperimentStatus.RUNNING)
    note: Mapped[str] = mapped_column(Text(), default="")
    started_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The version kept when it stopped (published again if it was not the one in use).
    kept_version: Mapped[int | None] = mapped_column(Integer())
