"""Every message key: what it is for, a sample context to preview and check it with, the
variables it must show, and whether the opt-out line follows it (the proactive ones)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

_ACCOUNTS = [
    {
        "amount_minor": 123450,
        "fee_minor": 0,
        "currency": "USD",
        "product": "Personal loan",
        "account_ref": "ACC-1001",
        "due_date": date(2026, 11, 20),
    },
    {
        "amount_minor": 8999,
        "fee_minor": 0,
        "currency": "USD",
        "product": None,
        "account_ref": "ACC-1002",
        "due_date": date(2026, 11, 25),
    },
]
_COMMON = {"creditor": "Acme Lending", "first_name": "Alice"}
_STAGE = {
    **_COMMON,
    "accounts": _ACCOUNTS,
    "accounts_block": "• $1,234.50 (ref. ACC-1001)",
    "totals": [{"amount_minor": 132449, "currency": "USD"}],
    "days_past_due": 8,
    "late_fees": False,
}
_PROMISE = {
    **_COMMON,
    "amount_minor": 50000,
    "currency": "USD",
    "account_ref": "ACC-1001",
    "promised_date": date(2026, 12, 5),
}
# What a message the bot sends about a promise on its own has (bot/reminders/compose.py).
_PROMISE_SENT = {**_PROMISE, "paid_minor": 0}
_INSTALLMENT = {
    **_COMMON,
    "seq": 2,
    "count": 4,
    "amount_minor": 30000,
    "currency": "USD",
    "due_date": date(2027, 1, 5),
    "grace_until": date(2027, 1, 10),
}
_LABELS = {"share_label": "Share my phone number", "question_label": "Answer a question instead"}

_AMOUNT = ("accounts_block", "accounts", "totals")


@dataclass(frozen=True)
class Variable:
    """One value a message can show, as the editor lists it."""

    name: str
    kind: str
    snippet: str
    example: str


@dataclass(frozen=True)
class MessageSpec:
    """One message key."""

    key: str
    purpose: str
    sample: dict[str, Any]
    # Groups of variable names: each group needs one of them shown, with why.
    required: tuple[tuple[tuple[str, ...], str], ...] = ()
    # Sent by the bot on its own: the opt-out line follows it.
    proactive: bool = False

    def variables(self) -> list[Variable]:
        """The sample's values with their kind and what to insert, then ``locale``."""
        found = [_variable(name, value, self.sample) for name, value in self.sample.items()]
        found.append(Variable("locale", "text: the reader's language code", "{{ locale }}", "en"))
        return found

    def largest_sample(self) -> dict[str, Any]:
        """The sample at its largest realistic size, for the length check."""
        context = dict(self.sample)
        for name in ("first_name", "creditor"):
            if name in context:
                context[name] = _LONG[name]
        if "accounts" in context:
            context["accounts"] = [
                {
                    "amount_minor": 987_654_321,
                    "fee_minor": 12_345,
                    "currency": "USD",
                    "product": "Personal loan with payment protection",
                    "account_ref": f"ACC-2026-{n:06d}-LONG",
                    "due_date": date(2026, 11, 1),
                }
                for n in range(LARGEST_ACCOUNTS)
            ]
            context["totals"] = [
                {"amount_minor": 29_629_629_630, "currency": c} for c in ("EUR", "GBP", "USD")
            ]
        if "installments" in context:
            start = date(2026, 12, 5)
            context["installments"] = [
                {"due_date": start + timedelta(days=30 * n), "amount_minor": 123_456_789}
                for n in range(24)
            ]
        return context


# The most accounts the length check assumes one debtor has (see the README).
LARGEST_ACCOUNTS = 20
_LONG = {
    "first_name": "Maximiliana-Alexandrina",
    "creditor": "Northern Consolidated Consumer Lending & Property Services Ltd",
}


def _show(expression: str) -> str:
    return "{{ " + expression + " }}"


def _kind(name: str, value: Any) -> tuple[str, str]:
    if name.endswith("_minor"):
        return "amount in minor units", _show(f"{name}|money(currency)")
    if isinstance(value, bool):
        return "yes/no", "{% if " + name + " %}…{% endif %}"
    if isinstance(value, datetime):
        return "date and time", _show(f'{name}|date("HH:mm")')
    if isinstance(value, date):
        return "date", _show(f"{name}|date")
    if isinstance(value, int):
        return "whole number", _show(f"{name}|number")
    if name == "accounts_block":
        return "the accounts, already laid out", _show(name)
    return "text", _show(name)


def _variable(name: str, value: Any, sample: dict[str, Any]) -> Variable:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        item, first = name[0], next(iter(value[0]))
        kind = f"list (each: {', '.join(value[0])})"
        snippet = (
            "{% for " + item + " in " + name + " %}" + _show(f"{item}.{first}") + "{% endfor %}"
        )
        return Variable(name, kind, snippet, f"{len(value)} items")
    kind, snippet = _kind(name, value)
    if name.endswith("_minor") and "currency" not in sample:
        snippet = _show(name)
    example = value.isoformat() if isinstance(value, date) else str(value)
    return Variable(name, kind, snippet, example if len(example) <= 40 else example[:39] + "…")


def _spec(
    key: str,
    purpose: str,
    sample: dict[str, Any],
    *required: tuple[tuple[str, ...], str],
    proactive: bool = False,
) -> MessageSpec:
    return MessageSpec(key, purpose, sample, tuple(required), proactive)


_WHO = (("creditor",), "who is writing")
_OWED = (_AMOUNT, "what is owed")


def _stage(key: str, purpose: str) -> MessageSpec:
    return _spec(key, purpose, _STAGE, _WHO, _OWED, proactive=True)


_AMOUNT_DATE = ((("amount_minor",), "the amount"), (("promised_date",), "the promised date"))
_INSTALLMENT_NEEDS = ((("amount_minor",), "the amount"), (("due_date",), "the due date"))
_SCHEDULE = (("installments",), "the schedule")

MESSAGES: dict[str, MessageSpec] = {
    spec.key: spec
    for spec in (
        _spec("start_generic", "A /start without a valid link; reveals nothing", _COMMON),
        _spec(
            "link_greeting",
            "After a valid link, asking to confirm identity",
            {**_COMMON, **_LABELS},
            (("share_label",), "the button to press"),
        ),
        _spec(
            "verify_ask_question", "Asking for the last 4 characters of an account reference", {}
        ),
        _spec(
            "verify_failed",
            "A wrong phone or answer",
            {**_LABELS, "remaining": 2},
            (("remaining",), "the attempts left"),
        ),
        _spec(
            "verify_not_own_contact",
            "Someone else's contact was shared",
            {**_LABELS, "remaining": 2},
            (("remaining",), "the attempts left"),
        ),
        _spec("verify_locked", "Three failed attempts locked the link", _COMMON),
        _spec("verify_needed", "Anything else before verification", _LABELS),
        _spec("chat_linked_elsewhere", "The chat already belongs to another debtor", _COMMON),
        _spec("verified", "Identity confirmed", _COMMON),
        _spec(
            "accounts_block",
            "The list of accounts inside summaries and reminders",
            {"accounts": _ACCOUNTS},
            (("accounts",), "the accounts"),
        ),
        _spec("balance_summary", "What is owed, with the menu", _STAGE, _WHO, _OWED),
        _stage("stage_pre_due", "Reminder a few days before the due date"),
        _stage("stage_early", "Friendly reminder, 1-5 days late"),
        _stage("stage_mid", "Asks for the reason and offers a plan, 6-18 days late"),
        _stage("stage_late", "Firm and factual, 19-28 days late"),
        _spec("opt_out_line", "Ends every proactive message", _COMMON),
        _spec("opted_out", "Confirms a STOP", _COMMON),
        _spec("promise_summary", "Asks the debtor to confirm a promise", _PROMISE, *_AMOUNT_DATE),
        _spec(
            "promise_confirmed",
            "A promise is recorded; says what happens if it is not kept",
            {**_PROMISE, "broken_after": date(2026, 12, 7)},
            *_AMOUNT_DATE,
        ),
        _spec(
            "promise_due_tomorrow",
            "The day before a promised payment",
            _PROMISE_SENT,
            *_AMOUNT_DATE,
            proactive=True,
        ),
        _spec(
            "promise_kept",
            "A promise was kept",
            _PROMISE_SENT,
            (("amount_minor",), "the amount"),
            proactive=True,
        ),
        _spec(
            "promise_partial",
            "A promise was partly kept",
            {**_PROMISE_SENT, "paid_minor": 20000},
            (("paid_minor",), "what was paid"),
            (("amount_minor",), "the amount promised"),
            proactive=True,
        ),
        _spec(
            "promise_broken",
            "A promise was not kept",
            _PROMISE_SENT,
            *_AMOUNT_DATE,
            proactive=True,
        ),
        _spec(
            "account_withdrawn",
            "The creditor withdrew an account that had a promise or a plan: it has ended",
            {**_COMMON, "account_ref": "ACC-1001", "agreement": "promise"},
            (("account_ref",), "which account"),
            _WHO,
            proactive=True,
        ),
        _spec(
            "installment_due",
            "An installment of a plan is coming up",
            _INSTALLMENT,
            *_INSTALLMENT_NEEDS,
            proactive=True,
        ),
        _spec(
            "installment_missed",
            "An installment was missed; grace period",
            _INSTALLMENT,
            *_INSTALLMENT_NEEDS,
            proactive=True,
        ),
        _spec(
            "plan_confirmed",
            "A repayment plan is active",
            {
                **_COMMON,
                "currency": "USD",
                "installments": [
                    {"due_date": date(2026, 12, 5), "amount_minor": 30000},
                    {"due_date": date(2027, 1, 5), "amount_minor": 30000},
                ],
            },
            _SCHEDULE,
        ),
        _spec("handoff_ack", "A person will take over", _COMMON),
        _spec(
            "plan_summary",
            "Asks the debtor to confirm a plan's schedule",
            {
                **_COMMON,
                "account_ref": "ACC-1001",
                "currency": "USD",
                "needs_review": False,
                "installments": [{"due_date": date(2026, 12, 5), "amount_minor": 30000}],
            },
            _SCHEDULE,
        ),
        _spec(
            "plan_review",
            "A plan outside policy went to a person for review",
            {
                **_COMMON,
                "answer_by": date(2026, 12, 3),
                "currency": "USD",
                "account_ref": "ACC-1001",
                "installments": [{"due_date": date(2026, 12, 5), "amount_minor": 30000}],
            },
            (("answer_by",), "when they will hear back"),
        ),
        _spec(
            "hardship_paused",
            "Reminders paused for someone who can pay later",
            {**_COMMON, "until": date(2026, 12, 31)},
            (("until",), "until when"),
        ),
        _spec("dispute_ack", "A dispute was recorded; reminders stop", _COMMON),
        _spec("complaint_ack", "A complaint was recorded", _COMMON),
        _spec("deceased_ack", "A death was reported; nothing about the debt is shown", _COMMON),
        _spec(
            "team_with_you",
            "Once per claim: a person owns the chat now; the bot is silent",
            _COMMON,
        ),
        _spec(
            "handed_back", "An agent handed the chat back to the bot; the menu is back", _COMMON
        ),
        _spec(
            "waiting_for_agent",
            "Once per ticket nobody claimed in time, or opened outside business hours: when to"
            " expect an answer (opens_on / opens_at when the team is away, else minutes)",
            {
                **_COMMON,
                "minutes": 30,
                "opens_on": date(2026, 12, 7),
                "opens_at": datetime(2026, 12, 7, 9, 0),
            },
            (("minutes", "opens_on", "opens_at"), "when to expect an answer"),
        ),
    )
}
