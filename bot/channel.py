"""The channel seam: what the domain asks a chat channel to show, without any framework types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.db.workers import WorkerLease


class ReplyKeyboard(StrEnum):
    """Keyboards shown in place of the debtor's phone keyboard."""

    SHARE_CONTACT = "share_contact"
    REMOVE = "remove"


@dataclass(frozen=True)
class Chat:
    """Who wrote, as the channel tells it."""

    channel: str
    chat_id: int
    user_id: int | None
    language_code: str | None


@dataclass(frozen=True)
class Button:
    """An inline button: either a callback (``data`` ≤ 64 bytes) or a link."""

    label: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class OutMessage:
    """One message to a chat, already rendered in the reader's language (Telegram HTML)."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    reply_keyboard: ReplyKeyboard | None = None
    kind: str = "reply"
    template_key: str | None = None
    template_version: int | None = None
    template_locale: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A delivered message: the channel's id for it and its contact log row."""

    message_id: int
    log_id: int


class SendError(Exception):
    """A message was not delivered."""


class ChannelUnreachable(SendError):
    """The person blocked the bot or the chat is gone: never retry, mark the link unreachable."""


class TransientSendError(SendError):
    """Worth trying again later: the channel's server failed, timed out, or asked us to wait."""


class PermanentSendError(SendError):
    """Trying again would fail the same way (e.g. the channel refused the message's format)."""


class Withdrawn(SendError):
    """The message was not sent because this process no longer holds its claim (another
    process took it over); it must not be recorded or settled here."""


class Handover(Protocol):
    """A stored message's claim, marked as being sent the moment its request starts."""

    async def begin(self) -> bool:
        """Mark it as being sent now; False if the claim was lost (then send nothing)."""
        ...

    async def undo(self) -> None:
        """The channel refused to take it yet (a flood wait): it is claimed, not being sent."""
        ...


class Sender(Protocol):
    """Anything that can deliver an OutMessage to a chat and log it in the contact log."""

    channel: str  # the name chats of this channel are stored under ("telegram")
    # The process sending: what it is to send is claimed in its name (bot/db/workers.py).
    lease: WorkerLease

    async def send(
        self,
        chat_id: int,
        message: OutMessage,
        *,
        debtor_id: int | None = None,
        locale: str | None = None,
        log_id: int | None = None,
        handover: Handover | None = None,
    ) -> Delivery:
        """Deliver the message or raise a SendError; record the attempt in the contact log, in
        the row ``log_id`` when the message was stored before sending. ``handover`` is begun
        the moment the request starts, after any wait for the channel's limits."""
        ...
