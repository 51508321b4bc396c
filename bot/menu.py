"""The buttons under a summary or a reminder: what a debtor can do so far."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from bot import labels
from bot.channel import Button
from bot.db.models import Account
from bot.i18n import translator

MAX_PAY_BUTTONS = 5


def payment_url(template: str, account_ref: str) -> str:
    """The creditor's payment page for one account."""
    return template.format(account_ref=quote(account_ref, safe=""))


def debt_buttons(
    accounts: Sequence[Account], locale: str | None, payment_url_template: str
) -> list[list[Button]]:
    """A pay link per account (the most urgent first), then "What I owe"."""
    _ = translator(locale)
    rows = [
        [
            Button(
                _(labels.PAY_ACCOUNT, account_ref=a.account_ref),
                url=payment_url(payment_url_template, a.account_ref),
            )
        ]
        for a in accounts[:MAX_PAY_BUTTONS]
    ]
    rows.append([Button(_(labels.MENU["balance"]), data="menu:balance")])
    return rows
