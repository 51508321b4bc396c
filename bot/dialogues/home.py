"""What is owed, with the menu of what the debtor can do: shown after verification, on /menu,
after a flow ends, and whenever an input is not understood."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.channel import Button, OutMessage
from bot.db.models import Account, AccountStatus, Debtor
from bot.dialogues import registry
from bot.dialogues.registry import Command, Dialogue, Words
from bot.i18n import translator
from bot.menu import debt_buttons
from bot.templates.accounts import account_rows, accounts_block, totals
from bot.templates.store import render

if TYPE_CHECKING:
    from bot.dialogues.engine import Turn

# Built once (most answers show the accounts).
_OPEN_ACCOUNTS = (
    select(Account)
    .where(
        Account.debtor_id == bindparam("debtor_id"),
        Account.status == AccountStatus.OPEN,
        Account.amount_due_minor > 0,
    )
    .order_by(Account.due_date, Account.account_ref)
)


async def open_accounts(session: AsyncSession, debtor_id: int) -> list[Account]:
    """The debtor's open, owed accounts, most overdue first."""
    return list((await session.execute(_OPEN_ACCOUNTS, {"debtor_id": debtor_id})).scalars())


def menu_buttons(
    debtor: Debtor, accounts: list[Account], payment_url_template: str
) -> list[list[Button]]:
    """Pay links and "What I owe", then the dialogues' menu buttons (``registry``)."""
    _ = translator(debtor.locale)
    rows = debt_buttons(accounts, debtor.locale, payment_url_template)
    for declared in registry.menu_rows():
        row = [
            Button(_(b.label), data=f"menu:{b.key}")
            for b in declared
            if accounts or not b.owed_only
        ]
        if row:
            rows.append(row)
    return rows


async def home_message(
    session: AsyncSession, debtor: Debtor, *, creditor: str, payment_url_template: str
) -> OutMessage:
    """The balance summary with the menu under it."""
    accounts = await open_accounts(session, debtor.id)
    rows = account_rows(accounts)
    rendered = await render(
        session,
        "balance_summary",
        debtor.locale,
        {
            "creditor": creditor,
            "accounts": rows,
            "accounts_block": await accounts_block(session, debtor.locale, rows),
            "totals": totals(rows),
        },
    )
    return OutMessage(
        rendered.text,
        menu_buttons(debtor, accounts, payment_url_template),
        kind="reply",
        template_key="balance_summary",
        template_version=rendered.version,
        template_locale=rendered.locale,
    )


async def show(turn: Turn, said: str = "") -> None:
    """What is owed, with the menu."""
    await turn.home()


DIALOGUE = Dialogue(
    name="home",
    opens={"balance": show},
    # "What I owe" sits with the pay links (``bot.menu``), under reminders too.
    commands=(
        Command("menu", labels.COMMANDS["menu"], position=10, opens="balance"),
        Command("balance", labels.COMMANDS["balance"], position=20, opens="balance"),
        # Answered by the router in any state: it leaves the flow.
        Command("cancel", labels.COMMANDS["cancel"], position=70),
    ),
    words=(
        Words(
            "balance",
            position=60,
            phrases={
                "en": ("balance", "how much", "owe", "amount due", "pay"),
                "zh": ("欠", "多少钱", "余额", "还款", "付款", "支付"),
            },
        ),
    ),
)
