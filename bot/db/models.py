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
from bot.db.models_ops import ChatPace, SendPace, Worker
from bot.db.models_people import Account, AccountStatus, AuditEvent, Debtor, DebtorPhone, Payment
from bot.db.models_results import (
    AccountBucket,
    DebtorOwing,
    ExperimentStatus,
    TemplateExperiment,
)
from bot.db.models_work import (
    CannedReply,
    ConsoleEvent,
    HandoffTicket,
    OutboxStatus,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReminderOutbox,
    RepaymentPlan,
    StaffNote,
    StaffSession,
    StaffUser,
    TemplateVersion,
    TicketStatus,
)

__all__ = [
    "Account",
    "AccountBucket",
    "AccountStatus",
    "AuditEvent",
    "Base",
    "CannedReply",
    "ChannelLink",
    "ChatPace",
    "ConsoleEvent",
    "ContactLog",
    "ContactStatus",
    "Debtor",
    "DebtorOwing",
    "DebtorPhone",
    "DialogueState",
    "Direction",
    "ExperimentStatus",
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
    "SendPace",
    "StaffNote",
    "StaffSession",
    "StaffUser",
    "TemplateExperiment",
    "TemplateVersion",
    "TicketStatus",
    "Worker",
]
