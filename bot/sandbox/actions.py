"""What sandbox users do (write, share contacts, press buttons, block) and what they see."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.sandbox.state import (
    BotState,
    CallbackRecord,
    ChatState,
    MessageRecord,
    SandboxError,
    SandboxUser,
)
from bot.templates.telegram_html import utf16_len

UserLike = int | SandboxUser | Mapping[str, Any]
OWN_USER_ID: Any = object()
_BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")


def command_entities(text: str) -> list[dict[str, Any]]:
    """Return the bot_command entities Telegram would attach to a user's text."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match[0]),
        }
        for match in _BOT_COMMAND.finditer(text)
    ]


class UserActions:
    """Acting as Telegram users towards a bot, and reading the resulting chats."""

    users: dict[int, SandboxUser]
    clock: Callable[[], float]
    _callback_ids = itertools.count(7_000_000_000_000_000_001)

    def bot(self, name: str) -> BotState:  # pragma: no cover - provided by the server
        """Return the bot registered under a username."""
        raise NotImplementedError

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """Register or update a user; a known user who never wrote gets 403 instead of 400."""
        profile: dict[str, Any] = {"id": user_id}
        for name, value in (
            ("first_name", first_name),
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                profile[name] = value
        return self._user(profile).to_api()

    def _user(self, user: UserLike) -> SandboxUser:
        if isinstance(user, SandboxUser):
            self.users[user.id] = user
            return user
        profile: Mapping[str, Any] = {"id": user} if isinstance(user, int) else user
        user_id = int(profile["id"])
        known = self.users.get(user_id)
        if known is None:
            known = SandboxUser(user_id, profile.get("first_name") or f"User{user_id}")
            self.users[user_id] = known
        known.update({k: v for k, v in profile.items() if k != "id"})
        return known

    def _chat(self, bot: BotState, user: SandboxUser, *, start: bool) -> ChatState:
        chat = bot.chats.get(user.id)
        if chat is None:
            chat = bot.chats[user.id] = ChatState(user)
        if start:
            if chat.blocked:
                raise SandboxError(409, "the user has blocked the bot; unblock it first")
            chat.started = True
        return chat

    def _incoming(self, bot_name: str, user: UserLike, **fields: Any) -> dict[str, Any]:
        bot = self.bot(bot_name)
        sender = self._user(user)
        chat = self._chat(bot, sender, start=True)
        reply_to = None
        reply_to_id = fields.pop("reply_to_message_id", None)
        if reply_to_id is not None:
            reply_to = chat.by_id.get(int(reply_to_id))
            if reply_to is None or reply_to.deleted:
                raise SandboxError(400, f"message {reply_to_id} not found in this chat")
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
        record = chat.add("user", int(self.clock()), reply_to=reply_to, **fields)
        message = record.to_api(bot.user, sender)
        bot.push_update("message", message)
        return message

    def send_text(
        self, bot: str, user: UserLike, text: str, *, reply_to_message_id: int | None = None
    ) -> dict[str, Any]:
        """User writes text (commands such as "/start payload" get bot_command entities)."""
        if not text:
            raise SandboxError(400, "text must not be empty")
        entities = command_entities(text)
        return self._incoming(
            bot, user, text=text, entities=entities, reply_to_message_id=reply_to_message_id
        )

    def share_contact(
        self,
        bot: str,
        user: UserLike,
        phone_number: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        contact_user_id: int | None = OWN_USER_ID,
    ) -> dict[str, Any]:
        """User shares a contact: their own by default, or another one (contact_user_id)."""
        sender = self._user(user)
        own = contact_user_id is OWN_USER_ID
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or (sender.first_name if own else "Contact"),
        }
        surname = last_name if last_name is not None else (sender.last_name if own else None)
        if surname:
            contact["last_name"] = surname
        target = sender.id if own else contact_user_id
        if target is not None:
            contact["user_id"] = target
        return self._incoming(bot, sender, contact=contact)

    def press_button(self, bot: str, user: UserLike, message_id: int, data: str) -> dict:
        """User presses an inline button; the callback_data must be on that message now."""
        state = self.bot(bot)
        sender = self._user(user)
        chat = state.chats.get(sender.id)
        record = chat.by_id.get(message_id) if chat else None
        if chat is None or record is None or record.deleted or record.sender != "bot":
            raise SandboxError(404, f"bot message {message_id} not found in this chat")
        if chat.blocked:
            raise SandboxError(409, "the user has blocked the bot; unblock it first")
        buttons = [button for row in record.inline_keyboard() for button in row]
        if not any(button.get("callback_data") == data for button in buttons):
            raise SandboxError(400, f"message {message_id} has no button with this callback_data")
        query_id = str(next(self._callback_ids))
        state.callback_queries[query_id] = CallbackRecord(query_id, sender.id, message_id, data)
        query = {
            "id": query_id,
            "from": sender.to_api(),
            "message": record.to_api(state.user, sender),
            "chat_instance": str(abs(hash((state.id, sender.id)))),
            "data": data,
        }
        state.push_update("callback_query", query)
        return query

    def block(self, bot: str, user: UserLike) -> None:
        """User blocks the bot: sends fail with 403 and the bot gets a my_chat_member update."""
        self._set_blocked(self.bot(bot), self._user(user), True)

    def unblock(self, bot: str, user: UserLike) -> None:
        """User unblocks the bot."""
        self._set_blocked(self.bot(bot), self._user(user), False)

    def _set_blocked(self, bot: BotState, user: SandboxUser, blocked: bool) -> None:
        chat = self._chat(bot, user, start=False)
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        member = {"user": bot.user, "status": "member"}
        kicked = {"user": bot.user, "status": "kicked", "until_date": 0}
        update = {
            "chat": user.chat_api(),
            "from": user.to_api(),
            "date": int(self.clock()),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        bot.push_update("my_chat_member", update)

    def transcript(self, bot: str, chat_id: int) -> dict[str, Any]:
        """Return the whole chat as the user sees it, including edits, deletions and answers."""
        state = self.bot(bot)
        chat = state.chats.get(chat_id)
        if chat is None:
            raise SandboxError(404, f"no chat {chat_id} with {state.username}")
        return {
            "bot": state.username,
            "chat": chat.user.chat_api(),
            "started": chat.started,
            "blocked": chat.blocked,
            "reply_keyboard": chat.reply_keyboard,
            "too_many_requests": chat.too_many_requests,
            "messages": [m.transcript(state.user, chat.user) for m in chat.messages],
        }

    def bot_messages(self, bot: str, chat_id: int) -> list[dict[str, Any]]:
        """Return the bot's messages in a chat that were not deleted, as transcript entries."""
        state = self.bot(bot)
        chat = state.chats.get(chat_id)
        records: list[MessageRecord] = chat.messages if chat else []
        return [
            m.transcript(state.user, chat.user)
            for m in records
            if chat and m.sender == "bot" and not m.deleted
        ]

    def bot_texts(self, bot: str, chat_id: int) -> list[str]:
        """Return the current texts of the bot's visible messages in a chat."""
        return [m["text"] for m in self.bot_messages(bot, chat_id)]

    async def wait_until(
        self, bot: str, predicate: Callable[[], bool], within: float = 5.0
    ) -> None:
        """Wait up to `within` seconds for predicate() to hold, re-checking on each change."""
        state = self.bot(bot)
        async with asyncio.timeout(within):
            while True:
                changed = state.changed
                if predicate():
                    return
                await changed.wait()

    async def wait_for_bot_messages(
        self, bot: str, chat_id: int, count: int = 1, within: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot has at least `count` visible messages in a chat; return them."""
        try:
            await self.wait_until(
                bot, lambda: len(self.bot_messages(bot, chat_id)) >= count, within
            )
        except TimeoutError:
            seen = self.bot_texts(bot, chat_id)
            raise TimeoutError(f"expected {count} bot messages in {chat_id}, saw {seen}") from None
        return self.bot_messages(bot, chat_id)
