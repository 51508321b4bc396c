"""What an admin does to message templates from the console: preview, save, publish, revert.

A preview renders a draft with the real sandboxed renderer in the template's language, against
the catalog's sample or a real debtor's file, with the opt-out line where the bot adds one, and
runs every check (bot/templates/checks.py). A version goes live only when every check passes;
publishing, reverting and each refusal are audited with the admin as actor. Once that has
committed, the caller forgets this process's cached texts (``store.forget_cached_templates``);
other processes see the new text within ``store.CACHE_SECONDS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.names import greeting_name
from bot.compliance.records import audit
from bot.db.models import (
    Account,
    Debtor,
    PlanInstallment,
    Promise,
    RepaymentPlan,
    TemplateVersion,
)
from bot.dialogues.home import open_accounts
from bot.menu import debt_buttons
from bot.policy import Policy
from bot.reminders.compose import installment_context, promise_context, stage_context
from bot.templates import versions
from bot.templates.accounts import account_rows, accounts_block, totals
from bot.templates.catalog import MESSAGES
from bot.templates.checks import Finding, check_body
from bot.templates.renderer import RenderError, render_body
from bot.templates.telegram_html import HtmlParseError, parse_html, strip_text, utf16_len

TELEGRAM_LIMIT = 4096
# Checks after which rendering makes no sense (or must not happen at all).
_UNRENDERABLE = {"syntax", "unsafe", "limits"}


@dataclass(frozen=True)
class Preview:
    """A draft as its reader would see it, with what stops it from going live."""

    reader: str  # whom it was rendered for, in words
    text: str | None  # plain text as Telegram shows it (None: it could not be rendered)
    entities: list[dict[str, Any]] = field(default_factory=list)
    length: int = 0  # UTF-16 code units, as Telegram counts them
    buttons: list[list[str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def publishable(self) -> bool:
        """True when no check stops this text from going live."""
        return not self.findings


@dataclass(frozen=True)
class Reader:
    """The context a draft renders with, and whom it describes."""

    context: dict[str, Any]
    description: str
    accounts: list[Account]
    notes: list[str]


def _actor(staff_id: int) -> str:
    return f"staff:{staff_id}"


async def _opt_out_body(s: AsyncSession, locale: str) -> str | None:
    found = await versions.live(s, "opt_out_line", locale)
    return found.body if found else None


async def sample_reader(s: AsyncSession, key: str, locale: str, creditor: str) -> Reader:
    """The catalog's sample reader in ``locale`` (its accounts laid out by that language's
    block), writing for ``creditor``."""
    context = dict(MESSAGES[key].sample)
    if "creditor" in context:
        context["creditor"] = creditor
    if "accounts_block" in context:
        context["accounts_block"] = await accounts_block(s, locale, context["accounts"])
    accounts = [Account(account_ref=a["account_ref"]) for a in context.get("accounts", [])]
    first = context.get("first_name")
    who = f"the sample debtor ({first})" if first else "the sample context"
    return Reader(context, who, accounts, [])


async def debtor_reader(
    s: AsyncSession,
    key: str,
    locale: str,
    debtor: Debtor,
    *,
    policy: Policy,
    today: date,
    creditor: str,
) -> Reader:
    """A real debtor's file as ``key`` would show it today; what the file lacks, the sample."""
    spec = MESSAGES[key]
    context: dict[str, Any] = {**spec.sample, "creditor": creditor}
    context["first_name"] = greeting_name(debtor.full_name)
    notes: list[str] = []
    accounts: list[Account] = []
    stage_keys = {stage.template for stage in policy.stages}
    if key in stage_keys:
        found, covered = await stage_context(s, debtor, policy=policy, today=today)
        context.update(found)
        accounts = list(covered)
        if not covered:
            notes.append("Nothing of theirs is due for a reminder today; it would not be sent.")
    elif key in ("balance_summary", "accounts_block"):
        accounts = await open_accounts(s, debtor.id)
        rows = account_rows(accounts)
        context.update(accounts=rows, totals=totals(rows))
        if "accounts_block" in context:
            context["accounts_block"] = await accounts_block(s, debtor.locale, rows)
    elif key.startswith("promise_"):
        promise = await s.scalar(
            select(Promise).where(Promise.debtor_id == debtor.id).order_by(Promise.id.desc())
        )
        if promise is None:
            notes.append("They have made no promise; the promise shown is the sample's.")
        else:
            found, account = await promise_context(s, promise)
            context.update(found)
            accounts = [account]
    elif key.startswith("installment_"):
        installment = await s.scalar(
            select(PlanInstallment)
            .join(RepaymentPlan, RepaymentPlan.id == PlanInstallment.plan_id)
            .where(RepaymentPlan.debtor_id == debtor.id, PlanInstallment.status != "paid")
            .order_by(PlanInstallment.due_date)
        )
        if installment is None:
            notes.append("They have no installment to pay; the installment shown is the sample's.")
        else:
            found, account = await installment_context(s, installment, policy)
            context.update(found)
            accounts = [account]
    elif set(spec.sample) - {"creditor", "first_name"}:
        notes.append("Only their name comes from their file here; the rest is the sample's.")
    if debtor.locale != locale:
        notes.append(
            f"{debtor.full_name} reads {debtor.locale}: they get that text, not this one."
        )
    described = f"{debtor.full_name} ({debtor.debtor_ref}, {debtor.locale})"
    return Reader(context, described, accounts, notes)


async def preview(
    s: AsyncSession,
    key: str,
    locale: str,
    body: str,
    reader: Reader,
    *,
    payment_url_template: str,
) -> Preview:
    """``body`` rendered for ``reader`` in ``locale``, and every check's findings."""
    spec = MESSAGES[key]
    opt_out = await _opt_out_body(s, locale) if spec.proactive else None
    findings = check_body(key, locale, body, opt_out_body=opt_out)
    if any(f.check in _UNRENDERABLE for f in findings):
        return Preview(reader.description, None, findings=findings, notes=reader.notes)
    try:
        html = render_body(key, body, locale, reader.context)
        if opt_out is not None:
            creditor = reader.context.get("creditor", "")
            html += "\n\n" + render_body("opt_out_line", opt_out, locale, {"creditor": creditor})
    except RenderError as exc:
        failed = Finding("render", f"For {reader.description}: {exc}")
        return Preview(reader.description, None, findings=[*findings, failed], notes=reader.notes)
    try:
        text, entities = strip_text(*parse_html(html))
    except HtmlParseError as exc:
        if not any(f.check == "html" for f in findings):
            findings = [*findings, Finding("html", f"Telegram would refuse it: {exc}")]
        return Preview(reader.description, None, findings=findings, notes=reader.notes)
    buttons = []
    if spec.proactive or key == "balance_summary":
        owed = reader.accounts
        buttons = [
            [b.label for b in row] for row in debt_buttons(owed, locale, payment_url_template)
        ]
    return Preview(
        reader.description, text, entities, utf16_len(text), buttons, findings, reader.notes
    )


async def save(
    s: AsyncSession,
    key: str,
    locale: str,
    body: str,
    *,
    comment: str,
    based_on: int | None,
    staff_id: int,
    now: datetime,
) -> TemplateVersion:
    """Save a draft (whatever the checks say: nothing typed is lost), audited."""
    row = await versions.save_draft(
        s, key, locale, body, comment=comment, staff_id=staff_id, now=now, based_on=based_on
    )
    audit(
        s, None, "template_saved", actor=_actor(staff_id), at=now,
        detail=f"{key} ({locale}) version {row.version}",
    )  # fmt: skip
    return row


async def _checked(
    s: AsyncSession, key: str, locale: str, body: str, what: str, *, staff_id: int, now: datetime
) -> list[Finding]:
    """Every check on ``body``; a refusal is audited."""
    opt_out = await _opt_out_body(s, locale) if MESSAGES[key].proactive else None
    findings = check_body(key, locale, body, opt_out_body=opt_out)
    if findings:
        audit(
            s, None, "template_publish_refused", actor=_actor(staff_id), at=now,
            detail=f"{key} ({locale}) {what}: "
            + "; ".join(f"{f.check}: {f.message}" for f in findings),
        )  # fmt: skip
    return findings


def _go_live(
    s: AsyncSession, row: TemplateVersion, kind: str, detail: str, *, staff_id: int, now: datetime
) -> None:
    versions.mark_published(row, staff_id=staff_id, now=now)
    audit(
        s, None, kind, actor=_actor(staff_id), at=now,
        detail=f"{row.key} ({row.locale}) version {row.version}{detail}",
    )  # fmt: skip


async def publish(
    s: AsyncSession, key: str, locale: str, version: int, *, staff_id: int, now: datetime
) -> list[Finding]:
    """Make a saved version live if every check passes; the findings when one does not."""
    row = await s.scalar(
        select(TemplateVersion)
        .where(
            TemplateVersion.key == key,
            TemplateVersion.locale == locale,
            TemplateVersion.version == version,
        )
        .with_for_update()
    )
    if row is None:
        raise versions.VersionError(f"{key} ({locale}) has no saved version {version}.")
    findings = await _checked(
        s, key, locale, row.body, f"version {version}", staff_id=staff_id, now=now
    )
    if not findings:
        _go_live(s, row, "template_published", "", staff_id=staff_id, now=now)
    return findings


async def save_and_publish(
    s: AsyncSession,
    key: str,
    locale: str,
    body: str,
    *,
    comment: str,
    based_on: int | None,
    staff_id: int,
    now: datetime,
) -> tuple[TemplateVersion | None, list[Finding]]:
    """Save ``body`` as a new version and make it live, unless a check stops it (then nothing
    is saved: the editor still holds the text)."""
    findings = await _checked(s, key, locale, body, "new version", staff_id=staff_id, now=now)
    if findings:
        return None, findings
    row = await save(
        s, key, locale, body, comment=comment, based_on=based_on, staff_id=staff_id, now=now
    )
    _go_live(s, row, "template_published", "", staff_id=staff_id, now=now)
    return row, []


async def revert(
    s: AsyncSession, key: str, locale: str, version: int, *, staff_id: int, now: datetime
) -> tuple[TemplateVersion | None, list[Finding]]:
    """Save an old version's text again as the newest version and make it live."""
    body = await versions.body_of(s, key, locale, version)
    what = "the shipped text" if version == 0 else f"version {version}"
    findings = await _checked(
        s, key, locale, body, f"reverting to {what}", staff_id=staff_id, now=now
    )
    if findings:
        return None, findings
    row = await versions.save_draft(
        s, key, locale, body, comment=f"Reverted to {what}", staff_id=staff_id, now=now,
        based_on=version,
    )  # fmt: skip
    _go_live(s, row, "template_reverted", f" = {what}", staff_id=staff_id, now=now)
    return row, []
