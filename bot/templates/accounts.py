"""The list of accounts that summaries and reminders show, rendered once for both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Account
from bot.templates.store import render


def account_rows(
    accounts: Sequence[Account], fees: Mapping[int, int] | None = None
) -> list[dict[str, Any]]:
    """Template context for each account; ``fees`` adds a late fee (minor units) by account id."""
    fees = fees or {}
    return [
        {
            "amount_minor": a.amount_due_minor + fees.get(a.id, 0),
            "fee_minor": fees.get(a.id, 0),
            "currency": a.currency,
            "product": a.product,
            "account_ref": a.account_ref,
            "due_date": a.due_date,
        }
        for a in accounts
    ]


def totals(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One total per currency, in code order."""
    sums: dict[str, int] = {}
    for row in rows:
        sums[row["currency"]] = sums.get(row["currency"], 0) + row["amount_minor"]
    return [{"amount_minor": v, "currency": k} for k, v in sorted(sums.items())]


async def accounts_block(
    session: AsyncSession, locale: str | None, rows: list[dict[str, Any]]
) -> Markup:
    """The rendered (already escaped) list, to drop into another template."""
    rendered = await render(session, "accounts_block", locale, {"accounts": rows})
    return Markup(rendered.text)
