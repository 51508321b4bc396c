"""The one registry of models: importing this module registers every table on ``Base.metadata``."""

from bot.db.base import Base
from bot.db.models_channel import (
    ChannelLink,
    ContactLog,
    ContactStatus,
    DialogueState,
    Direction,
    LinkToken,
)
from bot.db.models_people import Account, AccountStatus, AuditEvent, Debtor, DebtorPhone, Payment
from bot.db.models_work import (
    HandoffTicket,
    OutboxStatus,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReminderOutbox,
    RepaymentPlan,
    StaffUser,
    TemplateVersion,
    TicketStatus,
)

__all__ = [
    "Account",
    "AccountStatus",
    "AuditEvent",
    "Base",
    "ChannelLink",
    "ContactLog",
    "ContactStatus",
    "Debtor",
    "DebtorPhone",
    "DialogueState",
    "Direction",
    "HandoffTicket",
    "LinkToken",
    "OutboxStatus",
    "Payment",
    "PlanInstallment",
    "PlanStatus",
    "Promise",
    "PromiseStatus",
    "ReminderOutbox",
    "RepaymentPlan",
    "StaffUser",
    "TemplateVersion",
    "TicketStatus",
]
