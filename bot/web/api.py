"""The JSON API for creditors' systems: ``POST /api/payments`` records one payment."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.csvfile import CsvRow
from bot.accounts.rows import PaymentRow, validate_payment
from bot.db.engine import retrying
from bot.db.models import Account, Payment
from bot.money import MoneyError, check_currency, from_minor, to_minor
from bot.policy import Policy
from bot.services.payments import record_payments

log = logging.getLogger(__name__)
SESSIONS = web.AppKey("sessions", async_sessionmaker)
API_KEY = web.AppKey("api_key", str)
POLICY = web.AppKey("policy", Policy)
CLOCK = web.AppKey("clock", Callable[[], datetime])
REQUIRED = ("payment_ref", "account_ref", "amount")
OPTIONAL = ("currency", "paid_at", "source")
SOURCE = "api"
# Decimals, not floats: 0.1 must stay exactly 0.1 on its way to minor units.
_loads = partial(json.loads, parse_float=Decimal)


class _Errors:
    """Every problem of one request, at most one per field, in the order found."""

    def __init__(self) -> None:
        self.by_field: dict[str, str] = {}

    def add(self, field: str, reason: str) -> None:
        self.by_field.setdefault(field, reason)

    def response(self) -> web.Response:
        errors = [{"field": f, "reason": r} for f, r in self.by_field.items()]
        return web.json_response({"ok": False, "errors": errors}, status=422)


def add_api_routes(
    app: web.Application,
    sessions: async_sessionmaker[AsyncSession],
    api_key: str | None,
    policy: Policy,
    clock: Callable[[], datetime],
) -> None:
    """Serve the JSON API from ``app``; without a key every call answers 503."""
    app[SESSIONS] = sessions
    app[POLICY] = policy
    app[CLOCK] = clock
    if api_key:
        app[API_KEY] = api_key
    app.router.add_post("/api/payments", post_payment)


async def post_payment(request: web.Request) -> web.Response:
    """Record one payment against an account, once per ``payment_ref``."""
    key = request.app.get(API_KEY)
    if not key:
        return _error(503, "the payments API is off: set NUDGEBOT_API_KEY to turn it on")
    if not _authorised(request, key):
        log.warning("payments API call with a missing or wrong key refused")
        return _error(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})
    try:
        body = await request.json(loads=_loads)
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    policy, clock = request.app[POLICY], request.app[CLOCK]
    return await retrying(request.app[SESSIONS], lambda s: _record(s, body, policy, clock()))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status, headers=headers)


def _authorised(request: web.Request, key: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared always and in constant time, so timing tells nothing about the key.
    matches = hmac.compare_digest(given.strip().encode(), key.encode())
    return matches and scheme.lower() == "bearer"


async def _record(
    session: AsyncSession, body: dict[str, Any], policy: Policy, now: datetime
) -> web.Response:
    errors = _Errors()
    row = _validated(body, errors, now)
    account = None
    if "account_ref" not in errors.by_field:
        ref = body["account_ref"].strip()
        account = (
            await session.execute(
                select(Account.id, Account.currency).where(Account.account_ref == ref)
            )
        ).one_or_none()
        if account is None:
            errors.add("account_ref", f"no account {ref}")
    given = _currency_of(body, errors)
    if account and given and given != account.currency:
        errors.add("currency", f"{given} but the account is in {account.currency}")
    currency = account.currency if account else given
    amount = 0
    if currency and "amount" not in errors.by_field:
        try:
            amount = to_minor(_amount_text(body["amount"]), currency)
        except MoneyError as exc:
            errors.add("amount", str(exc))
    if row is not None and list(errors.by_field) == ["account_ref"]:
        return _error(404, errors.by_field["account_ref"])  # the only problem: no such account
    if errors.by_field or row is None or account is None:
        return errors.response()
    return await _apply(session, row, account.id, account.currency, amount, policy, now)


def _validated(body: dict[str, Any], errors: _Errors, now: datetime) -> PaymentRow | None:
    """Check the fields that do not depend on the account, as a payments file row would be."""
    for field in body:
        if field not in REQUIRED + OPTIONAL:
            errors.add(field, "is not a field of a payment")
    values = {}
    for field in REQUIRED + OPTIONAL:
        value = body.get(field)
        if value is None:
            if field in REQUIRED:
                errors.add(field, "is required")
            values[field] = ""
        elif field == "amount":
            values[field] = _amount_text(value)
            if not values[field]:
                errors.add(field, "must be a number or a string like 123.45")
        elif not isinstance(value, str):
            errors.add(field, "must be a string")
            values[field] = ""
        else:
            values[field] = value.strip()
    values["paid_at"] = values["paid_at"] or now.isoformat()
    values["source"] = values["source"] or SOURCE
    result = validate_payment(CsvRow(0, values))
    if isinstance(result, PaymentRow):
        return None if errors.by_field else result
    for error in result:
        errors.add(error.column or "", error.reason)
    return None


def _amount_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""  # floats only come from NaN and Infinity, which are no amounts


def _currency_of(body: dict[str, Any], errors: _Errors) -> str | None:
    """The currency the body names, if it is a valid one."""
    value = body.get("currency")
    if not isinstance(value, str) or "currency" in errors.by_field:
        return None
    try:
        return check_currency(value)
    except MoneyError:
        return None


async def _apply(
    session: AsyncSession,
    row: PaymentRow,
    account_id: int,
    currency: str,
    amount: int,
    policy: Policy,
    now: datetime,
) -> web.Response:
    payment = {
        "payment_ref": row.payment_ref, "account_id": account_id, "amount_minor": amount,
        "currency": currency, "paid_at": row.paid_at, "source": row.source,
    }  # fmt: skip
    status, code = "recorded", 201
    if not await record_payments(session, [payment], policy, now):
        # Recorded before, or a moment ago by a concurrent request that won the insert.
        earlier = (
            await session.execute(
                select(Payment.account_id, Payment.amount_minor).where(
                    Payment.payment_ref == row.payment_ref
                )
            )
        ).one()
        if tuple(earlier) != (account_id, amount):
            return _error(
                409, f"{row.payment_ref} is already recorded with another account or amount"
            )
        status, code = "duplicate", 200
    ref, due, account_status = (
        await session.execute(
            select(Account.account_ref, Account.amount_due_minor, Account.status).where(
                Account.id == account_id
            )
        )
    ).one()
    account = {
        "account_ref": ref,
        "amount_due": str(from_minor(due, currency)),
        "currency": currency,
        "status": account_status,
    }
    return web.json_response(
        {"ok": True, "payment_ref": row.payment_ref, "status": status, "account": account},
        status=code,
    )
