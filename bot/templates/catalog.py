"""Every message key, what it is for, and a sample context to preview and test it with."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

_ACCOUNTS = [
    {"amount_minor": 123450, "fee_minor": 0, "currency": "USD", "product": "Personal loan",
     "account_ref": "ACC-1001", "due_date": date(2026, 11, 20)},
    {"amount_minor": 8999, "fee_minor": 0, "currency": "USD", "product": None,
     "account_ref": "ACC-1002", "due_date": date(2026, 11, 25)},
]  # fmt: skip
_COMMON = {"creditor": "Acme Lending", "first_name": "Alice"}
_STAGE = {
    **_COMMON, "accounts": _ACCOUNTS, "accounts_block": "• $1,234.50 (ref. ACC-1001)",
    "totals": [{"amount_minor": 132449, "currency": "USD"}], "days_past_due": 8,
    "late_fees": False,
}  # fmt: skip
_PROMISE = {
    **_COMMON, "amount_minor": 50000, "currency": "USD", "account_ref": "ACC-1001",
    "promised_date": date(2026, 12, 5),
}  # fmt: skip
_INSTALLMENT = {
    **_COMMON, "seq": 2, "count": 4, "amount_minor": 30000, "currency": "USD",
    "due_date": date(2027, 1, 5), "grace_until": date(2027, 1, 10),
}  # fmt: skip
_LABELS = {"share_label": "Share my phone number", "question_label": "Answer a question instead"}

MESSAGES: dict[str, tuple[str, dict[str, Any]]] = {
    "start_generic": ("A /start without a valid link; reveals nothing", _COMMON),
    "link_greeting": ("After a valid link, asking to confirm identity", {**_COMMON, **_LABELS}),
    "verify_ask_question": ("Asking for the last 4 characters of an account reference", {}),
    "verify_failed": ("A wrong phone or answer", {**_LABELS, "remaining": 2}),
    "verify_not_own_contact": ("Someone else's contact was shared", {**_LABELS, "remaining": 2}),
    "verify_locked": ("Three failed attempts locked the link", _COMMON),
    "verify_needed": ("Anything else before verification", _LABELS),
    "chat_linked_elsewhere": ("The chat already belongs to another debtor", _COMMON),
    "verified": ("Identity confirmed", _COMMON),
    "accounts_block": (
        "The list of accounts inside summaries and reminders",
        {"accounts": _ACCOUNTS},
    ),
    "balance_summary": ("What is owed, with the menu", _STAGE),
    "stage_pre_due": ("Reminder a few days before the due date", _STAGE),
    "stage_early": ("Friendly reminder, 1-5 days late", _STAGE),
    "stage_mid": ("Asks for the reason and offers a plan, 6-18 days late", _STAGE),
    "stage_late": ("Firm and factual, 19-28 days late", _STAGE),
    "opt_out_line": ("Ends every proactive message", _COMMON),
    "opted_out": ("Confirms a STOP", _COMMON),
    "promise_summary": ("Asks the debtor to confirm a promise", _PROMISE),
    "promise_confirmed": (
        "A promise is recorded; says what happens if it is not kept",
        {**_PROMISE, "broken_after": date(2026, 12, 7)},
    ),
    "promise_due_tomorrow": ("The day before a promised payment", _PROMISE),
    "promise_kept": ("A promise was kept", _PROMISE),
    "promise_partial": ("A promise was partly kept", {**_PROMISE, "paid_minor": 20000}),
    "promise_broken": ("A promise was not kept", _PROMISE),
    "installment_due": ("An installment of a plan is coming up", _INSTALLMENT),
    "installment_missed": ("An installment was missed; grace period", _INSTALLMENT),
    "plan_confirmed": (
        "A repayment plan is active",
        {
            **_COMMON,
            "currency": "USD",
            "installments": [
                {"due_date": date(2026, 12, 5), "amount_minor": 30000},
                {"due_date": date(2027, 1, 5), "amount_minor": 30000},
            ],
        },
    ),
    "handoff_ack": ("A person will take over", _COMMON),
    "plan_summary": (
        "Asks the debtor to confirm a plan's schedule",
        {
            **_COMMON,
            "account_ref": "ACC-1001",
            "currency": "USD",
            "needs_review": False,
            "installments": [{"due_date": date(2026, 12, 5), "amount_minor": 30000}],
        },
    ),
    "plan_review": (
        "A plan outside policy went to a person for review",
        {
            **_COMMON,
            "answer_by": date(2026, 12, 3),
            "currency": "USD",
            "account_ref": "ACC-1001",
            "installments": [{"due_date": date(2026, 12, 5), "amount_minor": 30000}],
        },
    ),
    "hardship_paused": (
        "Reminders paused for someone who can pay later",
        {**_COMMON, "until": date(2026, 12, 31)},
    ),
    "dispute_ack": ("A dispute was recorded; reminders stop", _COMMON),
    "complaint_ack": ("A complaint was recorded", _COMMON),
    "deceased_ack": ("A death was reported; nothing about the debt is shown", _COMMON),
    "team_with_you": ("Once per claim: a person owns the chat now; the bot is silent", _COMMON),
    "handed_back": ("An agent handed the chat back to the bot; the menu is back", _COMMON),
    "waiting_for_agent": (
        "Once per ticket nobody claimed in time, or opened outside business hours: when to"
        " expect an answer (opens_on / opens_at when the team is away, else minutes)",
        {
            **_COMMON,
            "minutes": 30,
            "opens_on": date(2026, 12, 7),
            "opens_at": datetime(2026, 12, 7, 9, 0),
        },
    ),
}
