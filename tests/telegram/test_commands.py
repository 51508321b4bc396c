"""The bot's command menu, set in English and Chinese with setMyCommands when the bot starts."""

from __future__ import annotations

import logging

from telegram import BotCommand

from bot.app import running
from bot.channels.telegram import handlers
from bot.channels.telegram.ratelimit import ChatRateLimiter
from tests.telegram.conftest import ALICE, BOT, World, bot_settings, seed

ENGLISH = [
    ("start", "Start, or get messages again after stopping them"),
    ("menu", "What you owe and what you can do"),
    ("balance", "See what you owe"),
    ("promise", "Promise to pay by a date"),
    ("plan", "Propose a repayment plan"),
    ("person", "Talk to a person"),
    ("language", "Change the language"),
    ("cancel", "Cancel what we are doing"),
    ("stop", "Stop reminder messages"),
]
CHINESE = [
    ("start", "开始，或在停止后重新接收消息"),
    ("menu", "查看欠款和可以办理的事项"),
    ("balance", "查看我的欠款"),
    ("promise", "承诺在某日期前还款"),
    ("plan", "提出分期还款方案"),
    ("person", "联系人工客服"),
    ("language", "更改语言"),
    ("cancel", "取消当前操作"),
    ("stop", "停止接收提醒消息"),
]


def listed(commands: tuple[BotCommand, ...]) -> list[tuple[str, str]]:
    return [(c.command, c.description) for c in commands]


async def test_the_menu_is_set_for_everyone_and_for_chinese(world: World):
    bot = world.process.telegram.bot

    assert listed(await bot.get_my_commands()) == ENGLISH
    assert listed(await bot.get_my_commands(language_code="zh")) == CHINESE
    # Every command the bot handles is in the menu, and nothing else.
    assert {name for name, _ in ENGLISH} == {"start", "stop", *handlers.COMMANDS}


async def test_a_failure_to_set_the_menu_is_logged_and_the_bot_runs_on(
    sandbox, sessions, database_url, tmp_path, caplog
):
    tokens = await seed(sessions, tmp_path)
    # The English list meets a 502 (a network-level failure), the Chinese one a 400.
    sandbox.inject_server_error(BOT, status=502, methods=["setMyCommands"])
    sandbox.inject_server_error(BOT, status=400, methods=["setMyCommands"])
    caplog.set_level(logging.WARNING, logger="bot.channels.telegram.commands")

    settings = bot_settings(database_url, sandbox)
    async with running(settings, rate_limiter=ChatRateLimiter(), reminders=False) as process:
        sandbox.send_text(BOT, ALICE, f"/start {tokens['D-001']}")
        messages = await sandbox.wait_for_bot_messages(BOT, ALICE["id"], 1, within=10)
        assert messages[0]["text"].startswith("Hello")
        assert await process.telegram.bot.get_my_commands() == ()
        assert await process.telegram.bot.get_my_commands(language_code="zh") == ()

    warnings = [r.getMessage() for r in caplog.records if r.name.endswith(".commands")]
    assert [w.split(":")[0] for w in warnings] == [
        "could not set the command menu (language_code='')",
        "could not set the command menu (language_code='zh')",
    ]
