"""A real python-telegram-bot Application polling the sandbox."""

from collections.abc import AsyncIterator

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox import BotApiServer, SandboxError

pytestmark = pytest.mark.timeout(20)

TOKEN = "123456:AAE-sandbox-test-token"
BOT_NAME = "nudge_test_bot"
ADA = {"id": 5001, "first_name": "Ada", "last_name": "Lovelace", "language_code": "en"}
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Pay now", callback_data="pay"),
            InlineKeyboardButton("Later", callback_data="later"),
        ]
    ]
)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with the deep-link payload and offer buttons."""
    payload = " ".join(context.args or []) or "none"
    await update.effective_message.reply_html(f"Hi <b>{payload}</b>", reply_markup=KEYBOARD)


async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tell whether the shared contact is the sender's own."""
    shared = update.effective_message.contact
    own = shared.user_id == update.effective_user.id
    await update.effective_message.reply_text(f"{shared.phone_number} own={own}")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeat plain text."""
    await update.effective_message.reply_text(update.effective_message.text)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press and replace the buttons with the choice."""
    query = update.callback_query
    await query.answer(f"Chosen: {query.data}", show_alert=query.data == "later")
    await query.edit_message_text(f"You chose {query.data}")


@pytest.fixture
async def app(server: BotApiServer) -> AsyncIterator[Application]:
    """Run a polling Application against the sandbox."""
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.api_url)
        .base_file_url(server.file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(MessageHandler(filters.CONTACT, contact))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(CallbackQueryHandler(button))
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        yield application
        await application.updater.stop()
        await application.stop()


async def test_start_with_payload_is_answered(server: BotApiServer, app: Application) -> None:
    server.send_text(BOT_NAME, ADA, "/start acct-42")

    replies = await server.wait_for_bot_messages(BOT_NAME, ADA["id"], 1)

    assert replies[0]["text"] == "Hi acct-42"
    assert replies[0]["entities"] == [{"type": "bold", "offset": 3, "length": 7}]
    assert replies[0]["reply_markup"] == KEYBOARD.to_dict()


async def test_text_is_echoed(server: BotApiServer, app: Application) -> None:
    server.send_text(BOT_NAME, ADA, "hello there")

    replies = await server.wait_for_bot_messages(BOT_NAME, ADA["id"], 1)

    assert [r["text"] for r in replies] == ["hello there"]


async def test_shared_contact_reaches_the_bot(server: BotApiServer, app: Application) -> None:
    server.share_contact(BOT_NAME, ADA, "+447700900123")
    server.share_contact(BOT_NAME, ADA, "+447700900999", first_name="Bob", contact_user_id=None)

    replies = await server.wait_for_bot_messages(BOT_NAME, ADA["id"], 2)

    assert [r["text"] for r in replies] == ["+447700900123 own=True", "+447700900999 own=False"]


async def test_button_press_is_answered_and_message_edited(
    server: BotApiServer, app: Application
) -> None:
    server.send_text(BOT_NAME, ADA, "/start")
    greeting = (await server.wait_for_bot_messages(BOT_NAME, ADA["id"], 1))[0]

    server.press_button(BOT_NAME, ADA["id"], greeting["message_id"], "later")
    await server.wait_until(
        BOT_NAME, lambda: server.bot_texts(BOT_NAME, ADA["id"]) == ["You chose later"]
    )

    entry = server.transcript(BOT_NAME, ADA["id"])["messages"][1]
    assert (entry["text"], entry["reply_markup"], entry["original"]["text"]) == (
        "You chose later",
        None,
        "Hi none",
    )
    assert [(a["text"], a["show_alert"]) for a in entry["callback_answers"]] == [
        ("Chosen: later", True)
    ]


async def test_pressing_a_button_that_is_gone_is_refused(
    server: BotApiServer, app: Application
) -> None:
    server.send_text(BOT_NAME, ADA, "/start")
    greeting = (await server.wait_for_bot_messages(BOT_NAME, ADA["id"], 1))[0]

    with pytest.raises(SandboxError, match="no button with this callback_data"):
        server.press_button(BOT_NAME, ADA["id"], greeting["message_id"], "cancel")
