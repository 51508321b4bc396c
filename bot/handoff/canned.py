"""Canned replies: ready answers per language that agents pick, rendered for the debtor at hand.

A canned reply is a message template (the same sandboxed renderer and filters as the bot's own
messages) with what an agent's answer usually needs: the debtor's name, what they owe, today's
date and the payment link. Rendered, it fills the agent's reply box as plain text to edit.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Account, AccountStatus, CannedReply, Debtor
from bot.handoff.history import plain_text
from bot.i18n import SUPPORTED_LOCALES, supported_locale
from bot.menu import payment_url
from bot.money import format_money
from bot.templates.accounts import account_rows, totals
from bot.templates.renderer import RenderError, check_template, render_body

# What a canned reply may use, as the editor page lists it.
PLACEHOLDERS = {
    "first_name": "the debtor's first name",
    "full_name": "the debtor's full name",
    "creditor": "your company's name",
    "owed": "what the debtor owes now, e.g. $1,324.49",
    "payment_link": "the payment page of their most overdue account",
    "today": "today's date in their time zone; write {{ today|date }}",
}
SAMPLE = {
    "first_name": "Alice",
    "full_name": "Alice Martin",
    "creditor": "Acme Lending",
    "owed": "$1,324.49",
    "payment_link": "https://pay.example/ACC-1001",
    "today": date(2026, 12, 2),
}


class CannedError(ValueError):
    """A canned reply that cannot be saved; the message says why."""


async def for_locale(s: AsyncSession, locale: str) -> list[CannedReply]:
    """The canned replies in a debtor's language, by title."""
    rows = await s.scalars(
        select(CannedReply)
        .where(CannedReply.locale == supported_locale(locale))
        .order_by(CannedReply.title)
    )
    return list(rows)


async def every(s: AsyncSession) -> list[CannedReply]:
    """All canned replies, by language and title, for the editor."""
    rows = await s.scalars(select(CannedReply).order_by(CannedReply.locale, CannedReply.title))
    return list(rows)


def check(title: str, locale: str, body: str) -> None:
    """Raise CannedError unless the reply could be saved and rendered."""
    if not title.strip() or len(title) > 80:
        raise CannedError("Give it a title of at most 80 characters.")
    if locale not in SUPPORTED_LOCALES:
        raise CannedError(f"Choose a language: {', '.join(SUPPORTED_LOCALES)}.")
    if not body.strip():
        raise CannedError("Write the reply's text.")
    try:
        check_template(body)
        text = render_body("canned", body, locale, SAMPLE)
    except RenderError as exc:
        raise CannedError(f"The text has a mistake: {exc}") from None
    if len(plain_text(text)) > 4096:
        raise CannedError("Rendered, the reply is longer than Telegram's 4096 characters.")


async def save(
    s: AsyncSession,
    *,
    title: str,
    locale: str,
    body: str,
    staff_id: int,
    now: datetime,
    reply_id: int | None = None,
) -> CannedReply:
    """Add a canned reply, or change one; titles are unique per language."""
    title, body = title.strip(), body.strip()
    check(title, locale, body)
    try:
        # The savepoint holds the row's insert too, so a taken title loses only it.
        async with s.begin_nested():
            row = await s.get(CannedReply, reply_id) if reply_id is not None else None
            if reply_id is not None and row is None:
                raise CannedError("That canned reply was deleted meanwhile.")
            if row is None:
                row = CannedReply(title=title, locale=locale, created_at=now, version=0)
                s.add(row)
            row.version += 1
            row.title, row.locale = title, locale
            row.body, row.updated_by, row.updated_at = body, staff_id, now
            await s.flush()
    except IntegrityError:
        raise CannedError(f"There is already a reply titled {title!r} in {locale}.") from None
    return row


async def used(s: AsyncSession, picked: str) -> tuple[str, int] | None:
    """The template key and version a contact-log row gives a reply started from the canned
    reply ``picked`` ("id:version", as the reply box sends it); None for a reply of one's own."""
    reply_id, _, version = picked.partition(":")
    if not (reply_id.isdigit() and version.isdigit()):
        return None
    row = await s.get(CannedReply, int(reply_id))
    if row is None or not 1 <= int(version) <= row.version:
        return None
    return f"canned_{row.id}", int(version)


async def delete(s: AsyncSession, reply_id: int) -> None:
    """Remove a canned reply."""
    row = await s.get(CannedReply, reply_id)
    if row is not None:
        await s.delete(row)


async def render_for(
    s: AsyncSession,
    reply: CannedReply,
    debtor: Debtor,
    *,
    creditor: str,
    payment_url_template: str,
    today: date,
) -> str:
    """The reply filled in for one debtor, as plain text for the agent to edit."""
    accounts = list(
        await s.scalars(
            select(Account)
            .where(
                Account.debtor_id == debtor.id,
                Account.status == AccountStatus.OPEN,
                Account.amount_due_minor > 0,
            )
            .order_by(Account.due_date, Account.id)
        )
    )
    locale = supported_locale(debtor.locale)
    owed = ", ".join(
        format_money(t["amount_minor"], t["currency"], locale)
        for t in totals(account_rows(accounts))
    )
    context = {
        "first_name": debtor.full_name.split()[0] if debtor.full_name.split() else "",
        "full_name": debtor.full_name,
        "creditor": creditor,
        "owed": owed,
        "payment_link": payment_url(payment_url_template, accounts[0].account_ref)
        if accounts
        else "",
        "today": today,
    }
    return plain_text(render_body(f"canned:{reply.title}", reply.body, locale, context))
