"""In-memory state of the sandbox: bots, users, chats, messages and pending updates."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.limits import FaultPlan, FloodControl, RateLimits

# Telegram sends every update type except these when allowed_updates was never set.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional retry_after."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """Return the error as the Bot API's JSON answer."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class SandboxError(Exception):
    """A control request the sandbox refuses; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(detail: str) -> ApiError:
    """Return a 400 error with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {detail}")


@dataclass
class SandboxUser:
    """A Telegram user the sandbox plays."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def update(self, profile: Mapping[str, Any]) -> None:
        """Overwrite the profile fields present in a mapping."""
        for name in ("first_name", "last_name", "username", "language_code"):
            if name in profile:
                setattr(self, name, profile[name])

    def to_api(self) -> dict[str, Any]:
        """Return the Bot API User object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for name in ("last_name", "username", "language_code"):
            value = getattr(self, name)
            if value:
                data[name] = value
        return data

    def chat_api(self) -> dict[str, Any]:
        """Return the Bot API Chat object of the private chat with this user."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        for name in ("last_name", "username"):
            value = getattr(self, name)
            if value:
                data[name] = value
        return data


@dataclass
class MessageRecord:
    """One message in a private chat, sent by the user or by the bot."""

    message_id: int
    sender: str  # "user" or "bot"
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    reply_to: MessageRecord | None = None
    edit_date: int | None = None
    deleted: bool = False
    original: dict[str, Any] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)

    def content(self) -> dict[str, Any]:
        """Return what an edit can change: text, entities and the inline keyboard."""
        markup = self.reply_markup if self.inline_keyboard() else None
        return {"text": self.text, "entities": self.entities, "reply_markup": markup}

    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        """Return the inline keyboard rows currently attached, or an empty list."""
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return self.reply_markup["inline_keyboard"]
        return []

    def to_api(self, bot_user: dict[str, Any], user: SandboxUser, nested: bool = False) -> dict:
        """Return the Bot API Message object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": bot_user if self.sender == "bot" else user.to_api(),
            "chat": user.chat_api(),
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.reply_to is not None and not nested:
            data["reply_to_message"] = self.reply_to.to_api(bot_user, user, nested=True)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.contact is not None:
            data["contact"] = self.contact
        # Only inline keyboards travel with the message; reply keyboards live in the client.
        if self.inline_keyboard():
            data["reply_markup"] = self.reply_markup
        return data

    def transcript(self, bot_user: dict[str, Any], user: SandboxUser) -> dict[str, Any]:
        """Return this message as a transcript entry."""
        entry: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "date": self.date,
            "text": self.text,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "contact": self.contact,
            "reply_to_message_id": self.reply_to.message_id if self.reply_to else None,
            "deleted": self.deleted,
            "edit_date": self.edit_date,
            "original": self.original if self.edits else None,
            "edits": self.edits,
            "callback_answers": self.callback_answers,
            "message": self.to_api(bot_user, user),
        }
        return entry


@dataclass
class ChatState:
    """The private chat between one bot and one user."""

    user: SandboxUser
    started: bool = False
    blocked: bool = False
    messages: list[MessageRecord] = field(default_factory=list)
    by_id: dict[int, MessageRecord] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    delivered: list[dict[str, Any]] = field(default_factory=list)
    too_many_requests: int = 0

    def add(self, sender: str, date: int, **fields: Any) -> MessageRecord:
        """Append a new message with the next message_id."""
        record = MessageRecord(self.next_message_id, sender, date, **fields)
        self.next_message_id += 1
        self.messages.append(record)
        self.by_id[record.message_id] = record
        return record


@dataclass
class CallbackRecord:
    """A callback query the user produced, and how the bot answered it."""

    id: str
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


class BotState:
    """Everything the sandbox knows about one bot."""

    def __init__(self, token: str, username: str, first_name: str, limits: RateLimits) -> None:
        self.token = token
        self.id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.user = {"id": self.id, "is_bot": True, "first_name": first_name, "username": username}
        self.next_update_id = 1
        self.changed = asyncio.Event()
        self.poll_generation = 0
        self.flood = FloodControl(limits)
        self.reset()

    def reset(self) -> None:
        """Forget chats, updates, faults, webhook and counters; keep identity and update ids."""
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] | None = None
        self.webhook: dict[str, Any] | None = None
        self.webhook_error: tuple[int, str] | None = None
        # (scope type, chat_id, user_id, language_code) → that exact list, as Telegram keeps them
        self.commands: dict[tuple[str, int | None, int | None, str], list[dict[str, Any]]] = {}
        self.chats: dict[int, ChatState] = {}
        self.callback_queries: dict[str, CallbackRecord] = {}
        self.faults = FaultPlan()
        self.flood = FloodControl(self.flood.limits)
        self.counters: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.notify()

    def notify(self) -> None:
        """Wake every coroutine waiting for a change on this bot."""
        self.changed.set()
        self.changed = asyncio.Event()

    def count(self, name: str) -> None:
        """Increment a named counter."""
        self.counters[name] = self.counters.get(name, 0) + 1

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update unless allowed_updates filters it out."""
        allowed = self.allowed_updates
        if allowed is None and kind in DEFAULT_EXCLUDED_UPDATES:
            return None
        if allowed is not None and kind not in allowed:
            return None
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        self.updates.append(update)
        self.notify()
        return update

    def acknowledge(self, offset: int) -> None:
        """Forget updates below offset; a negative offset keeps only the last -offset ones."""
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def info(self) -> dict[str, Any]:
        """Return the getMe User object."""
        return {
            **self.user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
