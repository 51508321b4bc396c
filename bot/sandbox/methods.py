"""The Bot API methods the sandbox implements, each answering like Telegram."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.sandbox.bot_commands import delete_my_commands, get_my_commands, set_my_commands
from bot.sandbox.params import Params, check_reply_markup
from bot.sandbox.state import ApiError, BotState, ChatState, MessageRecord, bad_request
from bot.templates.telegram_html import HtmlParseError, parse_html, strip_text

if TYPE_CHECKING:
    from bot.sandbox.botapi import BotApiServer

MAX_TEXT_LENGTH = 4096
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass
class Call:
    """One Bot API request: the server, the bot it targets and its parameters."""

    server: BotApiServer
    bot: BotState
    params: Params

    def now(self) -> int:
        """Return the server clock as a Telegram date."""
        return int(self.server.clock())

    def chat(self) -> tuple[int, ChatState]:
        """Resolve chat_id to a chat the bot may write to, or fail like Telegram."""
        chat_id = self.params.chat_id()
        chat = self.bot.chats.get(chat_id)
        if chat is None or not chat.started:
            if chat_id in self.server.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id, chat


Method = Callable[[Call], Awaitable[Any]]


def render_text(call: Call) -> tuple[str, list[dict[str, Any]]]:
    """Turn text and parse_mode into the delivered text and entities."""
    raw = call.params.get_str("text")
    if not raw:
        raise bad_request("message text is empty")
    parse_mode = (call.params.get_str("parse_mode") or "").lower()
    entities: list[dict[str, Any]] = []
    text = raw
    if parse_mode == "html":
        try:
            text, entities = parse_html(raw, strict_entities=call.server.strict_html_entities)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from exc
    elif parse_mode in ("", "markdown", "markdownv2"):
        # Markdown is not interpreted by the sandbox; explicit entities are kept as sent.
        given = call.params.get_json("entities")
        entities = given if isinstance(given, list) else []
    else:
        raise bad_request("unsupported parse_mode")
    text, entities = strip_text(text, entities)
    if not text:
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return text, entities


def _reply_target(call: Call, chat: ChatState) -> MessageRecord | None:
    params = call.params
    reply = params.get_json("reply_parameters")
    if isinstance(reply, dict):
        message_id, allow = reply.get("message_id"), bool(reply.get("allow_sending_without_reply"))
    else:
        message_id = params.get_int("reply_to_message_id")
        allow = params.get_bool("allow_sending_without_reply")
    if message_id is None:
        return None
    target = chat.by_id.get(int(message_id))
    if target is None or target.deleted:
        if allow:
            return None
        raise bad_request("message to be replied not found")
    return target


async def send_message(call: Call) -> dict[str, Any]:
    """sendMessage: deliver a text message into a private chat."""
    chat_id, chat = call.chat()
    text, entities = render_text(call)
    markup = check_reply_markup(call.params)
    reply_to = _reply_target(call, chat)
    bot = call.bot
    now = call.server.clock()
    retry_after = bot.flood.acquire(chat_id, now)
    if retry_after:
        bot.count("too_many_requests")
        chat.too_many_requests += 1
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
    record = chat.add(
        "bot", int(now), text=text, entities=entities, reply_markup=markup, reply_to=reply_to
    )
    record.original = {"text": text, "entities": entities, "reply_markup": markup}
    if markup and "keyboard" in markup:
        chat.reply_keyboard = markup
    elif markup and markup.get("remove_keyboard"):
        chat.reply_keyboard = None
    chat.delivered.append({"message_id": record.message_id, "at": now, "text": text})
    bot.count("sent")
    bot.notify()
    return record.to_api(bot.user, chat.user)


def _editable(call: Call) -> tuple[ChatState, MessageRecord]:
    if call.params.has("inline_message_id"):
        raise bad_request("inline messages are not supported by the sandbox")
    _, chat = call.chat()
    record = chat.by_id.get(call.params.required_int("message_id"))
    if record is None or record.deleted:
        raise bad_request("message to edit not found")
    if record.sender != "bot":
        raise bad_request("message can't be edited")
    return chat, record


def _apply_edit(call: Call, chat: ChatState, record: MessageRecord, new: dict[str, Any]) -> dict:
    if new == record.content():
        raise bad_request(NOT_MODIFIED)
    record.text, record.entities = new["text"], new["entities"]
    if new["reply_markup"] is not None or record.inline_keyboard() or not record.reply_markup:
        record.reply_markup = new["reply_markup"]
    record.edit_date = call.now()
    record.edits.append({"edit_date": record.edit_date, **record.content()})
    call.bot.count("edited")
    call.bot.notify()
    return record.to_api(call.bot.user, chat.user)


async def edit_message_text(call: Call) -> dict[str, Any]:
    """editMessageText: replace a bot message's text (and its inline keyboard)."""
    chat, record = _editable(call)
    if record.text is None:
        raise bad_request("there is no text in the message to edit")
    text, entities = render_text(call)
    markup = check_reply_markup(call.params, inline_only=True)
    new = {"text": text, "entities": entities, "reply_markup": markup}
    return _apply_edit(call, chat, record, new)


async def edit_message_reply_markup(call: Call) -> dict[str, Any]:
    """editMessageReplyMarkup: replace or remove a bot message's inline keyboard."""
    chat, record = _editable(call)
    markup = check_reply_markup(call.params, inline_only=True)
    new = {**record.content(), "reply_markup": markup}
    return _apply_edit(call, chat, record, new)


async def delete_message(call: Call) -> bool:
    """deleteMessage: mark a message of the chat as deleted."""
    _, chat = call.chat()
    record = chat.by_id.get(call.params.required_int("message_id"))
    if record is None or record.deleted:
        raise bad_request("message to delete not found")
    record.deleted = True
    call.bot.notify()
    return True


async def answer_callback_query(call: Call) -> bool:
    """answerCallbackQuery: record the notification or alert the user saw."""
    query_id = call.params.get_str("callback_query_id") or ""
    query = call.bot.callback_queries.get(query_id)
    if query is None or query.answer is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    params = call.params
    if len(params.get_str("text") or "") > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answer = {
        "callback_query_id": query_id,
        "data": query.data,
        "text": params.get_str("text"),
        "show_alert": params.get_bool("show_alert"),
        "url": params.get_str("url"),
        "cache_time": params.get_int("cache_time", 0),
    }
    chat = call.bot.chats.get(query.chat_id)
    record = chat.by_id.get(query.message_id) if chat else None
    if record is not None:
        record.callback_answers.append(query.answer)
    call.bot.notify()
    return True


async def send_chat_action(call: Call) -> bool:
    """sendChatAction: accepted for chats the bot may write to."""
    call.chat()
    if not call.params.has("action"):
        raise bad_request("action is empty")
    return True


async def get_me(call: Call) -> dict[str, Any]:
    """getMe: describe the bot."""
    return call.bot.info()


async def harmless(call: Call) -> bool:
    """close / logOut: nothing to do in the sandbox."""
    return True


def _allowed_updates(call: Call) -> None:
    if call.params.has("allowed_updates"):
        allowed = call.params.get_json("allowed_updates")
        call.bot.allowed_updates = frozenset(allowed) if allowed else None


async def get_updates(call: Call) -> list[dict[str, Any]]:
    """getUpdates: long-poll pending updates; a newer poll ends an older one with 409."""
    bot, params = call.bot, call.params
    if bot.webhook is not None:
        raise ApiError(409, WEBHOOK_CONFLICT)
    _allowed_updates(call)
    offset = params.get_int("offset")
    if offset is not None:
        bot.acknowledge(offset)
    limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
    timeout = max(params.get_int("timeout", 0) or 0, 0)
    bot.poll_generation += 1
    generation = bot.poll_generation
    bot.notify()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if generation != bot.poll_generation:
            raise ApiError(409, POLL_CONFLICT)
        if bot.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        remaining = deadline - loop.time()
        if bot.updates or remaining <= 0 or call.server.closing:
            return bot.updates[:limit]
        changed = bot.changed
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except TimeoutError:
            pass


async def set_webhook(call: Call) -> bool:
    """setWebhook: start POSTing updates to a URL (http is fine in the sandbox)."""
    params, bot = call.params, call.bot
    url = params.get_str("url") or ""
    if not url:
        return await delete_webhook(call)
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get_str("secret_token")
    if secret is not None and not _SECRET.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.get_bool("drop_pending_updates"):
        bot.updates.clear()
    _allowed_updates(call)
    bot.webhook = {
        "url": url,
        "secret_token": secret,
        "max_connections": params.get_int("max_connections", 40),
    }
    bot.webhook_error = None
    bot.notify()
    call.server.webhooks.ensure(bot)
    return True


async def delete_webhook(call: Call) -> bool:
    """deleteWebhook: go back to getUpdates, optionally dropping pending updates."""
    bot = call.bot
    bot.webhook = None
    if call.params.get_bool("drop_pending_updates"):
        bot.updates.clear()
    await call.server.webhooks.stop(bot)
    bot.notify()
    return True


async def get_webhook_info(call: Call) -> dict[str, Any]:
    """getWebhookInfo: describe the webhook and the pending updates."""
    bot = call.bot
    info: dict[str, Any] = {
        "url": bot.webhook["url"] if bot.webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates),
    }
    if bot.webhook:
        info["max_connections"] = bot.webhook["max_connections"]
        info["ip_address"] = "127.0.0.1"
        if bot.allowed_updates is not None:
            info["allowed_updates"] = sorted(bot.allowed_updates)
        if bot.webhook_error:
            info["last_error_date"], info["last_error_message"] = bot.webhook_error
    return info


METHODS: dict[str, Method] = {
    name.lower(): method
    for name, method in {
        "getMe": get_me,
        "getUpdates": get_updates,
        "setWebhook": set_webhook,
        "deleteWebhook": delete_webhook,
        "getWebhookInfo": get_webhook_info,
        "sendMessage": send_message,
        "editMessageText": edit_message_text,
        "editMessageReplyMarkup": edit_message_reply_markup,
        "deleteMessage": delete_message,
        "answerCallbackQuery": answer_callback_query,
        "sendChatAction": send_chat_action,
        "setMyCommands": set_my_commands,
        "getMyCommands": get_my_commands,
        "deleteMyCommands": delete_my_commands,
        "close": harmless,
        "logOut": harmless,
    }.items()
}
