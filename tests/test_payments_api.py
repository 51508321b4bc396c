"""POST /api/payments on the real web app and database: recorded once, every refusal explained."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.db.base import utcnow
from bot.db.models import Account, AuditEvent, Debtor, Payment
from bot.settings import load_settings
from bot.web.app import make_web_app
from tests.helpers import add_debtor

KEY = "test-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
DUE = date(2026, 11, 1)
PAYMENT = {
    "payment_ref": "PAY-1",
    "account_ref": "ACC-1",
    "amount": "200.00",
    "currency": "USD",
    "paid_at": "2026-11-20T10:15:00-06:00",
}


async def _client(sessions, api_key: str | None) -> TestClient:
    client = TestClient(TestServer(make_web_app(load_settings(api_key=api_key), sessions)))
    await client.start_server()
    return client


@pytest.fixture
async def client(sessions) -> AsyncIterator[TestClient]:
    """A client of the real web app with an API key and two debtors' accounts."""
    async with sessions.begin() as s:
        await add_debtor(s, "D-1", accounts=[("ACC-1", DUE, 50000, "USD")])
        await add_debtor(s, "D-2", accounts=[("ACC-2", DUE, 9000, "JPY")])
    client = await _client(sessions, KEY)
    yield client
    await client.close()


async def _post(client: TestClient, body: object, headers=AUTH) -> tuple[int, dict]:
    async with client.post("/api/payments", json=body, headers=headers) as response:
        return response.status, await response.json()


async def _balances(sessions) -> dict[str, tuple[int, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Account.account_ref, Account.amount_due_minor, Account.status)
        )
        return {ref: (amount, status) for ref, amount, status in rows}


async def _payments(sessions) -> list[tuple[str, int, str, datetime, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Payment.payment_ref, Payment.amount_minor, Payment.currency, Payment.paid_at,
                   Payment.source).order_by(Payment.id)
        )  # fmt: skip
        return [tuple(row) for row in rows]


async def _received(sessions) -> list[tuple[str, str, str, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Debtor.debtor_ref, AuditEvent.kind, AuditEvent.actor, AuditEvent.detail)
            .join(Debtor, Debtor.id == AuditEvent.debtor_id)
            .order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]


async def test_a_payment_is_recorded_and_reduces_the_balance(sessions, client):
    status, body = await _post(client, PAYMENT)

    assert (status, body) == (
        201,
        {
            "ok": True,
            "payment_ref": "PAY-1",
            "status": "recorded",
            "account": {
                "account_ref": "ACC-1", "amount_due": "300.00", "currency": "USD",
                "status": "open",
            },
        },
    )  # fmt: skip
    assert await _payments(sessions) == [
        ("PAY-1", 20000, "USD", datetime(2026, 11, 20, 16, 15, tzinfo=UTC), "api")
    ]
    assert await _balances(sessions) == {"ACC-1": (30000, "open"), "ACC-2": (9000, "open")}
    assert await _received(sessions) == [
        ("D-1", "payment_received", "api", "PAY-1: 200.00 USD to ACC-1")
    ]


async def test_the_same_request_twice_is_recorded_once(sessions, client):
    first = await _post(client, PAYMENT)
    second = await _post(client, PAYMENT)

    assert (first[0], first[1]["status"]) == (201, "recorded")
    assert second == (
        200,
        {
            "ok": True,
            "payment_ref": "PAY-1",
            "status": "duplicate",
            "account": {
                "account_ref": "ACC-1", "amount_due": "300.00", "currency": "USD",
                "status": "open",
            },
        },
    )  # fmt: skip
    assert await _balances(sessions) == {"ACC-1": (30000, "open"), "ACC-2": (9000, "open")}
    assert len(await _payments(sessions)) == 1
    assert len(await _received(sessions)) == 1


async def test_a_concurrent_double_post_reduces_the_balance_once(sessions, client):
    results = await asyncio.gather(*(_post(client, PAYMENT) for _ in range(4)))

    assert sorted(status for status, _ in results) == [200, 200, 200, 201]
    assert {body["account"]["amount_due"] for _, body in results} == {"300.00"}
    assert await _balances(sessions) == {"ACC-1": (30000, "open"), "ACC-2": (9000, "open")}
    assert len(await _received(sessions)) == 1


@pytest.mark.parametrize(
    "change", [{"amount": "200.01"}, {"account_ref": "ACC-2", "amount": "200", "currency": "JPY"}]
)
async def test_a_known_payment_ref_with_another_account_or_amount_conflicts(
    sessions, client, change
):
    await _post(client, PAYMENT)

    assert await _post(client, {**PAYMENT, **change}) == (
        409,
        {"ok": False, "error": "PAY-1 is already recorded with another account or amount"},
    )
    assert await _balances(sessions) == {"ACC-1": (30000, "open"), "ACC-2": (9000, "open")}


async def test_numbers_defaults_and_paying_in_full(sessions, client):
    before = utcnow()
    status, body = await _post(
        client, {"payment_ref": "PAY-9", "account_ref": "ACC-2", "amount": 9000}
    )
    status_usd, _ = await _post(
        client, {"payment_ref": "PAY-10", "account_ref": "ACC-1", "amount": 123.45}
    )

    assert (status, status_usd) == (201, 201)
    assert body["account"] == {
        "account_ref": "ACC-2", "amount_due": "0", "currency": "JPY", "status": "paid",
    }  # fmt: skip
    [(_, yen, _, paid_at, source), (_, dollars, *_)] = await _payments(sessions)
    assert (yen, source, dollars) == (9000, "api", 12345)
    assert before <= paid_at <= utcnow() + timedelta(seconds=1)
    assert await _balances(sessions) == {"ACC-1": (37655, "open"), "ACC-2": (0, "paid")}


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"amount": "12.345"}, [("amount", "12.345 has more than 2 decimal places for USD")]),
        ({"amount": 1.005}, [("amount", "1.005 has more than 2 decimal places for USD")]),
        ({"amount": "-5"}, [("amount", "-5 must be greater than zero")]),
        ({"amount": 0}, [("amount", "0 must be greater than zero")]),
        ({"amount": "1,000"}, [("amount", "1,000 is not a plain number like 1234.50")]),
        ({"amount": True}, [("amount", "must be a number or a string like 123.45")]),
        ({"currency": "XYZ"}, [("currency", "XYZ is not an ISO 4217 currency code")]),
        ({"currency": "eur"}, [("currency", "EUR but the account is in USD")]),
        (
            {"paid_at": "yesterday"},
            [("paid_at", "yesterday is not an ISO 8601 time like 2026-11-30T14:05:00+01:00")],
        ),
        ({"paid_at": 1764000000}, [("paid_at", "must be a string")]),
        (
            {"payment_ref": "PAY 1"},
            [("payment_ref", "'PAY 1' must be 1-64 letters, digits or . _ / -")],
        ),
        ({"paidAt": "2026-11-20"}, [("paidAt", "is not a field of a payment")]),
    ],
)
async def test_bad_fields_are_422_with_the_reason(sessions, client, change, errors):
    status, body = await _post(client, {**PAYMENT, **change})

    assert (status, body) == (
        422,
        {"ok": False, "errors": [{"field": f, "reason": r} for f, r in errors]},
    )
    assert await _payments(sessions) == []


async def test_every_bad_field_is_listed_at_once(client):
    assert await _post(client, {"amount": "1.001", "currency": "GBP", "paid_at": "soon"}) == (
        422,
        {
            "ok": False,
            "errors": [
                {"field": "payment_ref", "reason": "is required"},
                {"field": "account_ref", "reason": "is required"},
                {
                    "field": "paid_at",
                    "reason": "soon is not an ISO 8601 time like 2026-11-30T14:05:00+01:00",
                },
                {"field": "amount", "reason": "1.001 has more than 2 decimal places for GBP"},
            ],
        },
    )
    status, body = await _post(client, {**PAYMENT, "account_ref": "ACC-9", "amount": "x"})
    assert (status, body["errors"]) == (
        422,
        [{"field": "account_ref", "reason": "no account ACC-9"},
         {"field": "amount", "reason": "x is not a plain number like 1234.50"}],
    )  # fmt: skip


async def test_an_unknown_account_is_404(sessions, client):
    assert await _post(client, {**PAYMENT, "account_ref": "ACC-9"}) == (
        404,
        {"ok": False, "error": "no account ACC-9"},
    )


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"'])
async def test_a_body_that_is_not_a_json_object_is_400(client, data):
    async with client.post("/api/payments", data=data, headers=AUTH) as response:
        assert response.status == 400
        assert (await response.json())["ok"] is False


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEY}"},
     {"Authorization": KEY}],
)  # fmt: skip
async def test_a_missing_or_wrong_key_is_401_and_never_logged(sessions, client, caplog, headers):
    caplog.set_level(logging.DEBUG)

    async with client.post("/api/payments", json=PAYMENT, headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert await response.json() == {"ok": False, "error": "missing or wrong API key"}

    assert await _payments(sessions) == []
    assert "wrong-key" not in caplog.text and KEY not in caplog.text
    assert "PAY-1" not in caplog.text


async def test_without_a_configured_key_the_api_is_503(sessions):
    client = await _client(sessions, None)
    try:
        status, body = await _post(client, PAYMENT)
    finally:
        await client.close()
    assert (status, body) == (
        503,
        {"ok": False, "error": "the payments API is off: set NUDGEBOT_API_KEY to turn it on"},
    )
