"""Validation of portfolio and payment rows: pure functions from raw strings to typed rows."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from bot.accounts.csvfile import CsvRow, Header, RowError, rows_in
from bot.i18n import normalise_locale
from bot.money import MoneyError, check_currency, to_minor

ACCOUNT_COLUMNS = (
    "account_ref",
    "debtor_ref",
    "full_name",
    "phone",
    "locale",
    "timezone",
    "currency",
    "amount_due",
    "due_date",
)
ACCOUNT_OPTIONAL = ("email", "product")
PAYMENT_COLUMNS = ("payment_ref", "account_ref", "amount", "paid_at")
PAYMENT_OPTIONAL = ("currency", "source")

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountRow(NamedTuple):
    """A valid portfolio row (a tuple in the staging table's column order: it crosses from a
    worker process and into COPY as it is)."""

    line: int
    account_ref: str
    debtor_ref: str
    full_name: str
    phone_e164: str
    locale: str
    timezone: str
    currency: str
    amount_due_minor: int
    due_date: date
    email: str | None
    product: str | None


@dataclass(frozen=True)
class PaymentRow:
    """A payment row whose amount is still text: its precision depends on the account."""

    line: int
    payment_ref: str
    account_ref: str
    amount: str
    currency: str | None
    paid_at: datetime
    source: str


class _Collector:
    """Gathers every problem of one row so the creditor can fix them all at once."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.errors: list[RowError] = []

    def fail(self, column: str, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))


def _ref(c: _Collector, values: dict[str, str], column: str) -> str:
    value = values[column]
    if not value:
        c.fail(column, "is empty")
    elif not _REF.fullmatch(value):
        c.fail(column, f"{value!r} must be 1-64 letters, digits or . _ / -")
    return value


@lru_cache(maxsize=1024)
def check_timezone(value: str) -> str:
    """Return the IANA zone name, or raise ValueError."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value or '(empty)'} is not an IANA time zone like Asia/Shanghai"
        ) from None
    return value


@lru_cache(maxsize=8192)  # phonenumbers is the slow part of a row; debtors repeat numbers
def normalise_phone(value: str, region: str) -> str:
    """Return the number in E.164, reading national numbers as numbers of ``region``."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{value or '(empty)'} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value} is not a valid phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _checked(
    c: _Collector, column: str, check: Callable[[str], str], values: dict[str, str]
) -> str:
    try:
        return check(values[column])
    except ValueError as exc:
        c.fail(column, str(exc))
        return ""


def validate_account(row: CsvRow, region: str) -> AccountRow | list[RowError]:
    """Check every column of a portfolio row."""
    v, c = row.values, _Collector(row.line)
    account_ref, debtor_ref = _ref(c, v, "account_ref"), _ref(c, v, "debtor_ref")
    full_name = v["full_name"]
    if not full_name:
        c.fail("full_name", "is empty")
    elif len(full_name) > 200:
        c.fail("full_name", "is longer than 200 characters")
    phone = _checked(c, "phone", lambda x: normalise_phone(x, region), v)
    locale = _checked(c, "locale", normalise_locale, v)
    timezone = _checked(c, "timezone", check_timezone, v)
    currency = _checked(c, "currency", check_currency, v)
    amount = 0
    if currency:
        try:
            amount = to_minor(v["amount_due"], currency)
        except MoneyError as exc:
            c.fail("amount_due", str(exc))
    due = _iso_date(c, v, "due_date")
    email = v.get("email") or None
    if email and not _EMAIL.fullmatch(email):
        c.fail("email", f"{email!r} is not an e-mail address")
    product = v.get("product") or None
    if product and len(product) > 100:
        c.fail("product", "is longer than 100 characters")
    if c.errors or due is None:
        return c.errors
    return AccountRow(
        row.line, account_ref, debtor_ref, full_name, phone, locale, timezone, currency,
        amount, due, email, product,
    )  # fmt: skip


@dataclass
class CheckedRows:
    """A batch of portfolio rows, checked: the valid ones, every problem, and the (account ref,
    debtor ref) each row with a problem names (a full file must not withdraw those)."""

    valid: list[AccountRow]
    errors: list[RowError]
    named: list[tuple[str, str]]
    unreadable: int  # rows that could not even be split into fields
    rows: int


def check_accounts(rows: Iterable[CsvRow | RowError], region: str) -> CheckedRows:
    """Validate a batch of portfolio rows."""
    checked = CheckedRows([], [], [], 0, 0)
    for row in rows:
        checked.rows += 1
        if isinstance(row, RowError):
            checked.errors.append(row)
            checked.unreadable += 1
            continue
        result = validate_account(row, region)
        if isinstance(result, list):
            checked.errors.extend(result)
            checked.named.append(
                (row.values.get("account_ref", ""), row.values.get("debtor_ref", ""))
            )
        else:
            checked.valid.append(result)
    return checked


def check_chunk(header: Header, first_line: int, lines: list[bytes], region: str) -> CheckedRows:
    """Read and validate a chunk of a portfolio file's lines (:func:`read_chunks`); a worker
    process runs this on the chunks sent to it."""
    return check_accounts(rows_in(lines, first_line, header), region)


def validate_payment(row: CsvRow) -> PaymentRow | list[RowError]:
    """Check the columns of a payment row that do not depend on the account."""
    v, c = row.values, _Collector(row.line)
    payment_ref, account_ref = _ref(c, v, "payment_ref"), _ref(c, v, "account_ref")
    currency = None
    if v.get("currency"):
        try:
            currency = check_currency(v["currency"])
        except MoneyError as exc:
            c.fail("currency", str(exc))
    paid_at = None
    try:
        paid_at = parse_instant(v["paid_at"])
    except ValueError as exc:
        c.fail("paid_at", str(exc))
    if not v["amount"]:
        c.fail("amount", "is empty")
    source = (v.get("source") or "import")[:32]
    if c.errors or paid_at is None:
        return c.errors
    return PaymentRow(row.line, payment_ref, account_ref, v["amount"], currency, paid_at, source)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value or '(empty)'} is not an ISO 8601 time like 2026-11-30T14:05:00+01:00"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso_date(c: _Collector, values: dict[str, str], column: str) -> date | None:
    try:
        return date.fromisoformat(values[column])
    except ValueError:
        c.fail(column, f"{values[column] or '(empty)'} is not a date like 2026-12-31")
        return None
