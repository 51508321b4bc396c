"""setMyCommands, getMyCommands and deleteMyCommands per scope and language, as Telegram does."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeChatMember,
)
from telegram.error import BadRequest

from bot.sandbox import BotApiServer
from tests.sandbox.conftest import TOKEN

pytestmark = pytest.mark.timeout(15)


def names(commands: tuple[BotCommand, ...]) -> list[tuple[str, str]]:
    return [(c.command, c.description) for c in commands]


async def call(server: BotApiServer, method: str, body: dict[str, Any]) -> tuple[int, dict]:
    """A raw Bot API call, for parameters python-telegram-bot would not send."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.api_url}{TOKEN}/{method}", json=body) as response,
    ):
        return response.status, await response.json()


async def test_each_scope_and_language_keeps_its_own_list(tg: Bot, started: int) -> None:
    await tg.set_my_commands([BotCommand("menu", "Menu")])
    await tg.set_my_commands([BotCommand("menu", "菜单")], language_code="zh")
    await tg.set_my_commands(
        [BotCommand("menu", "Private")], scope=BotCommandScopeAllPrivateChats()
    )
    await tg.set_my_commands([BotCommand("menu", "Yours")], scope=BotCommandScopeChat(started))

    assert names(await tg.get_my_commands()) == [("menu", "Menu")]
    assert names(await tg.get_my_commands(language_code="zh")) == [("menu", "菜单")]
    assert names(await tg.get_my_commands(scope=BotCommandScopeAllPrivateChats())) == [
        ("menu", "Private")
    ]
    assert names(await tg.get_my_commands(scope=BotCommandScopeChat(started))) == [
        ("menu", "Yours")
    ]
    # Read back exactly: a language or scope without its own list has none (no fallback).
    assert await tg.get_my_commands(language_code="fr") == ()
    assert (
        await tg.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="zh") == ()
    )


async def test_delete_and_an_empty_list_clear_only_their_own_list(tg: Bot) -> None:
    await tg.set_my_commands([BotCommand("menu", "Menu")])
    await tg.set_my_commands([BotCommand("menu", "菜单")], language_code="zh")

    await tg.delete_my_commands(language_code="zh")
    assert await tg.get_my_commands(language_code="zh") == ()
    assert names(await tg.get_my_commands()) == [("menu", "Menu")]
    await tg.set_my_commands([])
    assert await tg.get_my_commands() == ()


async def test_commands_are_stored_trimmed_without_the_slash(tg: Bot) -> None:
    await tg.set_my_commands([BotCommand(" /menu ", "  What you owe  ")])

    assert names(await tg.get_my_commands()) == [("menu", "What you owe")]


@pytest.mark.parametrize("code", ["zh-hans", "zh_CN", "ZH", "zho", "z"])
async def test_a_language_code_must_be_two_lower_case_letters(tg: Bot, code: str) -> None:
    with pytest.raises(BadRequest, match=r"^Invalid language code specified$"):
        await tg.set_my_commands([BotCommand("menu", "Menu")], language_code=code)
    with pytest.raises(BadRequest, match=r"^Invalid language code specified$"):
        await tg.get_my_commands(language_code=code)


async def test_chat_scopes_need_a_chat_the_bot_knows(tg: Bot, started: int) -> None:
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await tg.get_my_commands(scope=BotCommandScopeChat(999_999))
    with pytest.raises(BadRequest, match=r"^Can't use specified scope in private chats$"):
        await tg.set_my_commands(
            [BotCommand("menu", "Menu")], scope=BotCommandScopeChatAdministrators(started)
        )
    with pytest.raises(BadRequest, match=r"^Can't use specified scope in private chats$"):
        await tg.delete_my_commands(scope=BotCommandScopeChatMember(started, started))


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (
            {"scope": {"type": "everyone"}},
            "Bad Request: can't parse BotCommandScope: Unsupported type specified",
        ),
        (
            {"scope": {"type": "chat"}},
            "Bad Request: can't parse BotCommandScope: Can't find field \"chat_id\"",
        ),
        (
            {"scope": {"type": "chat_member", "chat_id": 5001, "user_id": 0}},
            "Bad Request: can't parse BotCommandScope: Invalid user_id specified",
        ),
        (
            {"scope": "[1]"},
            "Bad Request: can't parse BotCommandScope: BotCommandScope must be an Object",
        ),
        ({"scope": "{"}, "Bad Request: can't parse BotCommandScope JSON object"),
        ({"language_code": "english"}, "Bad Request: invalid language code specified"),
        (
            {"commands": [{"command": "menu"}]},
            "Bad Request: can't parse BotCommand: Can't find field \"description\"",
        ),
        ({"commands": {"command": "menu"}}, "Bad Request: expected an Array of BotCommand"),
        (
            {"commands": [{"command": "Menu", "description": "Go"}]},
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            {"commands": [{"command": "menu", "description": " "}]},
            "Bad Request: command description must be non-empty",
        ),
        (
            {"commands": [{"command": "m" * 33, "description": "Go"}]},
            "Bad Request: command length must not exceed 32",
        ),
        (
            {"commands": [{"command": "menu", "description": "d" * 257}]},
            "Bad Request: command description length must not exceed 256",
        ),
    ],
)
async def test_bad_parameters_get_telegrams_answers(
    server: BotApiServer, body: dict[str, Any], description: str
) -> None:
    status, answer = await call(server, "setMyCommands", body)

    assert (status, answer) == (
        400,
        {"ok": False, "error_code": 400, "description": description},
    )
