"""The channel seam: what the domain asks a chat channel to show, without any framework types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ReplyKeyboard(StrEnum):
    """Keyboards shown in place of the debtor's phone keyboard."""

    SHARE_CONTACT = "share_contact"
    REMOVE = "remove"


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


class ChannelUnreachable(Exception):
    """The person blocked the bot or the chat is gone: never retry, mark the link unreachable."""


class Sender(Protocol):
    """Anything that can deliver an OutMessage to a chat and return the message id."""

    async def send(self, chat_id: int, message: OutMessage) -> int:
        """Deliver and return the channel's message id, or raise ChannelUnreachable."""
        ...
