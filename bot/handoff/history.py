"""A handed-off conversation as an agent reads it: the whole history and the debtor's file.

The history is the contact log in order (what the debtor wrote, what the bot said with the
buttons the debtor saw, a press shown as the label pressed, what agents wrote and whether it was
delivered) with the agents' private notes among them. The file beside it holds the debtor's
accounts, promises, plans, holds and audit trail.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.db.models import (
    Account,
    AuditEvent,
    ChannelLink,
    ContactLog,
    Debtor,
    Direction,
    HandoffTicket,
    PlanStatus,
    Promise,
    RepaymentPlan,
    StaffNote,
    StaffUser,
)
from bot.money import format_money

# The newest this many messages are shown; older ones are counted.
HISTORY = 1000
AUDIT = 100
_TAG = re.compile(r"<[^>]+>")


def plain_text(telegram_html: str) -> str:
    """What a person reads in a message written as Telegram HTML: no tags, no entities."""
    return html.unescape(_TAG.sub("", telegram_html))


@dataclass(frozen=True)
class Item:
    """One line of the history."""

    key: str  # "log-<id>" or "note-<id>": where it goes on the page, once
    at: datetime
    side: str  # "debtor", "bot", "agent" or "note"
    text: str
    author: str | None = None
    # The buttons the debtor saw under a bot message, row by row.
    buttons: list[list[str]] = field(default_factory=list)
    pressed: bool = False  # a button press, its text being the label
    status: str | None = None  # of a message out: pending, sent, failed
    error: str | None = None
    kind: str | None = None


async def timeline(
    s: AsyncSession,
    debtor_id: int,
    *,
    log_ids: list[int] | None = None,
    note_ids: list[int] | None = None,
) -> list[Item]:
    """The debtor's history oldest first, or only the named messages and notes."""
    logs = (
        select(ContactLog, StaffUser.display_name)
        .outerjoin(StaffUser, StaffUser.id == ContactLog.staff_id)
        .where(ContactLog.debtor_id == debtor_id)
    )
    notes = (
        select(StaffNote, StaffUser.display_name)
        .join(StaffUser, StaffUser.id == StaffNote.staff_id)
        .where(StaffNote.debtor_id == debtor_id)
    )
    if log_ids is not None or note_ids is not None:
        logs = logs.where(ContactLog.id.in_(log_ids or []))
        notes = notes.where(StaffNote.id.in_(note_ids or []))
    log_rows = (await s.execute(logs.order_by(ContactLog.id.desc()).limit(HISTORY))).all()
    log_rows.reverse()
    labels = await _labels(s, debtor_id, [row for row, _ in log_rows])
    items = [_log_item(row, author, labels) for row, author in log_rows]
    items += [
        Item(f"note-{n.id}", n.created_at, "note", n.text, author=author)
        for n, author in (await s.execute(notes.order_by(StaffNote.id))).all()
    ]
    items.sort(key=lambda i: (i.at, i.key.startswith("note"), int(i.key.split("-")[1])))
    return items


def _log_item(row: ContactLog, author: str | None, labels: dict[str, str]) -> Item:
    if row.direction == Direction.IN:
        if row.kind == "callback":
            label = labels.get(row.text or "")
            return Item(f"log-{row.id}", row.created_at, "debtor", label or "(a button)",
                        pressed=True, kind=row.kind)  # fmt: skip
        return Item(f"log-{row.id}", row.created_at, "debtor", row.text or "(no text)",
                    kind=row.kind)  # fmt: skip
    markup = row.markup or {}
    buttons = [[b["label"] for b in r] for r in markup.get("buttons", [])]
    return Item(
        # What we send is Telegram HTML (agents' texts escaped into it); the page escapes again.
        f"log-{row.id}", row.created_at, "agent" if row.staff_id else "bot",
        plain_text(row.text or ""),
        author=author if row.staff_id else None, buttons=buttons, status=row.status,
        error=row.error, kind=row.kind,
    )  # fmt: skip


async def _labels(s: AsyncSession, debtor_id: int, rows: list[ContactLog]) -> dict[str, str]:
    """The label of each button data the debtor pressed, from the messages that showed it."""
    pressed = {r.text for r in rows if r.direction == Direction.IN and r.kind == "callback"}
    if not pressed:
        return {}
    shown = await s.scalars(
        select(ContactLog.markup).where(
            ContactLog.debtor_id == debtor_id,
            ContactLog.direction == Direction.OUT,
            ContactLog.markup.is_not(None),
        )
    )
    labels: dict[str, str] = {}
    for markup in shown:
        for row in (markup or {}).get("buttons", []):
            for button in row:
                if button.get("data") in pressed:
                    labels[button["data"]] = button["label"]
    return labels


@dataclass(frozen=True)
class Line:
    """A labelled fact of the debtor's file."""

    label: str
    value: str
    tone: str = ""  # "", "warn" or "bad"


@dataclass
class Dossier:
    """Everything about the debtor an agent looks at beside the conversation."""

    debtor: Debtor
    ticket: HandoffTicket | None
    holder_name: str | None
    accounts: list[Line]
    agreements: list[Line]
    holds: list[Line]
    chat: list[Line]
    audit: list[AuditEvent]


async def dossier(s: AsyncSession, debtor_id: int, today: date) -> Dossier | None:
    """The debtor's file as of ``today`` (their local date), or None when there is no debtor."""
    debtor = await s.get(Debtor, debtor_id)
    if debtor is None:
        return None
    ticket = await s.scalar(
        select(HandoffTicket)
        .where(HandoffTicket.debtor_id == debtor_id)
        .order_by(HandoffTicket.id.desc())
        .limit(1)
    )
    holder = await s.get(StaffUser, ticket.claimed_by) if ticket and ticket.claimed_by else None
    accounts = (
        await s.scalars(select(Account).where(Account.debtor_id == debtor_id).order_by(Account.id))
    ).all()
    return Dossier(
        debtor=debtor,
        ticket=ticket,
        holder_name=holder.display_name if holder else None,
        accounts=[_account_line(a, today) for a in accounts],
        agreements=await _agreements(s, debtor_id, {a.id: a.account_ref for a in accounts}),
        holds=_holds(debtor, today),
        chat=await _chat(s, debtor_id),
        audit=list(
            (
                await s.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.debtor_id == debtor_id)
                    .order_by(AuditEvent.id.desc())
                    .limit(AUDIT)
                )
            ).all()
        ),
    )


def _account_line(a: Account, today: date) -> Line:
    dpd = (today - a.due_date).days
    due = f"due {a.due_date:%d %b %Y}" + (f", {dpd} days past due" if dpd > 0 else "")
    product = f" · {a.product}" if a.product else ""
    if not a.owed:
        return Line(f"{a.account_ref}{product}", f"{a.status} · nothing owed")
    tone = "bad" if dpd > 28 else "warn" if dpd > 5 else ""
    owed = format_money(a.amount_due_minor, a.currency, "en")
    return Line(f"{a.account_ref}{product}", f"{owed} · {due}", tone)


async def _agreements(s: AsyncSession, debtor_id: int, refs: dict[int, str]) -> list[Line]:
    lines = []
    promises = await s.scalars(
        select(Promise).where(Promise.debtor_id == debtor_id).order_by(Promise.id.desc()).limit(20)
    )
    for p in promises:
        amount = format_money(p.amount_minor, p.currency, "en")
        lines.append(
            Line(
                f"Promise · {refs.get(p.account_id, '?')}",
                f"{amount} by {p.promised_date:%d %b %Y} · {p.status} · by {p.source}",
                "bad" if p.status == "broken" else "",
            )
        )
    plans = await s.scalars(
        select(RepaymentPlan)
        .where(RepaymentPlan.debtor_id == debtor_id)
        .options(selectinload(RepaymentPlan.installments))
        .order_by(RepaymentPlan.id.desc())
        .limit(10)
    )
    for plan in plans:
        steps = ", ".join(
            f"{i.due_date:%d %b} {format_money(i.amount_minor, plan.currency, 'en')} {i.status}"
            for i in plan.installments
        )
        lines.append(
            Line(
                f"Plan · {refs.get(plan.account_id, '?')}",
                f"{format_money(plan.total_minor, plan.currency, 'en')} in "
                f"{plan.installment_count} · {plan.status} · {steps}",
                "bad" if plan.status == PlanStatus.BROKEN else "",
            )
        )
    return lines


def _holds(d: Debtor, today: date) -> list[Line]:
    holds = []
    for label, at in (
        ("Deceased", d.deceased_at),
        ("Ceased communication", d.cease_at),
        ("Opted out of reminders", d.opted_out_at),
        ("Disputed", d.dispute_at),
        ("Bankruptcy", d.bankruptcy_at),
        ("Vulnerable", d.vulnerable_at),
    ):
        if at is not None:
            holds.append(Line(label, f"since {at:%d %b %Y %H:%M} UTC", "bad"))
    if d.hardship_until is not None and d.hardship_until >= today:
        holds.append(Line("Hardship pause", f"until {d.hardship_until:%d %b %Y}", "warn"))
    return holds


async def _chat(s: AsyncSession, debtor_id: int) -> list[Line]:
    links = await s.scalars(select(ChannelLink).where(ChannelLink.debtor_id == debtor_id))
    lines = []
    for link in links:
        state = "verified" if link.verified_at else "not verified"
        tone = ""
        if link.unreachable_at is not None:
            state, tone = f"unreachable: {link.unreachable_reason or 'unknown'}", "bad"
        lines.append(Line(link.channel.capitalize(), state, tone))
    return lines
