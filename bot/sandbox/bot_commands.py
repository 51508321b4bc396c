"""The command menu methods: setMyCommands, getMyCommands, deleteMyCommands, like Telegram.

Lists are kept per scope and ``language_code`` and read back exactly, with no fallback
(which list a user's app shows is the client's business). Scopes, chats, language codes and
commands are checked in Telegram's order and answered with its wording.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.sandbox.params import Params
from bot.sandbox.state import ApiError, bad_request

if TYPE_CHECKING:
    from bot.sandbox.methods import Call

_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
_SCOPES_WITHOUT_CHAT = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
)


def _commands_key(call: Call) -> tuple[str, int | None, int | None, str]:
    """The list a scope and language address, checked the way Telegram checks them."""
    scope = _command_scope(call.params)
    chat_id = scope[1]
    if chat_id is not None:
        if chat_id not in call.bot.chats:
            raise bad_request("chat not found")
        # Every sandbox chat is a private chat, which takes only the ``chat`` scope.
        if scope[0] != "chat":
            raise bad_request("can't use specified scope in private chats")
    language = call.params.get_str("language_code") or ""
    if language and not _LANGUAGE_CODE.fullmatch(language):
        raise bad_request("invalid language code specified")
    return (*scope, language)


def _command_scope(params: Params) -> tuple[str, int | None, int | None]:
    """``scope`` as (type, chat_id, user_id); absent, the default scope."""
    raw = params.raw.get("scope")
    if raw in (None, ""):
        return ("default", None, None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse BotCommandScope JSON object") from None

    def fail(why: str) -> ApiError:
        return bad_request(f"can't parse BotCommandScope: {why}")

    if not isinstance(raw, dict):
        raise fail("BotCommandScope must be an Object")
    kind = _field(raw, "type", fail)
    if kind in _SCOPES_WITHOUT_CHAT:
        return (kind, None, None)
    if kind not in ("chat", "chat_administrators", "chat_member"):
        raise fail("Unsupported type specified")
    chat = _field(raw, "chat_id", fail)
    if chat == "":
        raise fail("Empty chat_id specified")
    try:
        chat_id = int(chat)
    except ValueError:
        raise bad_request("chat not found") from None  # an @username: no public chats here
    if kind != "chat_member":
        return (kind, chat_id, None)
    user = _field(raw, "user_id", fail)
    if not user.lstrip("-").isdigit():
        raise fail('Field "user_id" must be a valid Number')
    if int(user) <= 0:
        raise fail("Invalid user_id specified")
    return (kind, chat_id, int(user))


def _field(obj: dict[str, Any], name: str, fail: Callable[[str], ApiError]) -> str:
    """A required field Telegram reads as a string (numbers included)."""
    if name not in obj:
        raise fail(f'Can\'t find field "{name}"')
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise fail(f'Field "{name}" must be of type String')
    return str(value)


def _commands(params: Params) -> list[dict[str, str]]:
    """``commands`` trimmed as Telegram stores them (absent: none, which clears the list)."""
    raw = params.raw.get("commands")
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse commands JSON object") from None
    if not isinstance(raw, list):
        raise bad_request("expected an Array of BotCommand")
    commands = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        for name in ("command", "description"):
            if not isinstance(item.get(name), str):
                raise bad_request(f"can't parse BotCommand: Can't find field \"{name}\"")
        command = item["command"].strip().removeprefix("/")
        description = item["description"].strip()
        commands.append({"command": command, "description": description})
    return commands


async def set_my_commands(call: Call) -> bool:
    """setMyCommands: store the command list for a scope and language (an empty one clears)."""
    commands = _commands(call.params)
    key = _commands_key(call)
    for command in commands:
        name, description = command["command"], command["description"]
        if not name:
            raise bad_request("command must be non-empty")
        if len(name) > 32:
            raise bad_request("command length must not exceed 32")
        if not description:
            raise bad_request("command description must be non-empty")
        if len(description) > 256:
            raise bad_request("command description length must not exceed 256")
        if not _COMMAND.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
    if commands:
        call.bot.commands[key] = commands
    else:
        call.bot.commands.pop(key, None)
    return True


async def get_my_commands(call: Call) -> list[dict[str, Any]]:
    """getMyCommands: the list set for exactly this scope and language (no fallback)."""
    return call.bot.commands.get(_commands_key(call), [])


async def delete_my_commands(call: Call) -> bool:
    """deleteMyCommands: forget the command list of exactly this scope and language."""
    call.bot.commands.pop(_commands_key(call), None)
    return True
