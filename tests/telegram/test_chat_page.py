"""The sandbox's debtor chat page in a real browser, with the real bot and the sample debtors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.sandbox import BotApiServer, RateLimits
from bot.sandbox.launch import sandbox_running
from bot.settings import load_settings
from tests.browser import chromium

pytestmark = pytest.mark.timeout(240)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# The bot sends at most one message a second per chat, and a cold start takes a while.
SLOW = 30_000
expect.set_options(timeout=SLOW)
TOKEN = "555000:chat-page-render-token"
BOT = "render_test_bot"
PERSONA: dict[str, Any] = {
    "name": "Ada Lovelace",
    "debtor_ref": "D-900",
    "phone": "+447700900001",
    "start": "tok_ada",
    "user": {"id": 9001, "first_name": "Ada", "language_code": "en"},
}


@dataclass
class Sandbox:
    """The running sandbox, and what went wrong in the browser while using it."""

    server: BotApiServer
    personas: list[dict[str, Any]]
    browser: Browser
    shots: Path
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Return the address a newcomer opens."""
        return f"{self.server.base_url}/sandbox/chat"

    async def page(self, viewport: dict[str, int], **options: Any) -> Page:
        """Open the chat page in a fresh browser context that records console errors."""
        context = await self.browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(SLOW)
        page = await context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        await page.goto(self.url)
        return page

    async def shoot(self, page: Page, name: str) -> Path:
        """Save a screenshot of the page and return its path."""
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path))
        return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium driven by Playwright (no `playwright install`: Debian's build)."""
    async with chromium() as running:
        yield running


@pytest.fixture
async def sandbox(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    browser: Browser,
    tmp_path: Path,
) -> AsyncIterator[Sandbox]:
    """`nudgebot sandbox` as a newcomer runs it: sample debtors, local Telegram, the real bot.

    Requesting ``sessions`` empties the database first, as the sandbox expects.
    """
    settings = load_settings(database_url=database_url, web_port=0, creditor_name="Acme Lending")
    async with sandbox_running(settings) as (server, _process, personas):
        running = Sandbox(server, personas, browser, tmp_path)
        yield running
    print(f"screenshots in {tmp_path}")
    assert running.problems == [], running.problems


@pytest.fixture
async def bare(browser: Browser, tmp_path: Path) -> AsyncIterator[tuple[Sandbox, Bot]]:
    """The local Telegram with one persona and no nudgebot: the test plays the bot itself."""
    server = BotApiServer(rate_limits=RateLimits(chat_burst=20, global_burst=100))
    server.add_bot(TOKEN, username=BOT, first_name="Render Bank")
    server.personas = [PERSONA]
    await server.start()
    try:
        async with Bot(TOKEN, base_url=server.api_url, base_file_url=server.file_url) as bot:
            yield Sandbox(server, server.personas, browser, tmp_path), bot
    finally:
        await server.stop()


async def test_alice_opens_her_link_shares_her_phone_and_sees_her_balance(sandbox: Sandbox):
    page = await sandbox.page(PHONE, is_mobile=True, has_touch=True)
    await expect(
        page.get_by_role("heading", name="Try the bot as a sample debtor")
    ).to_be_visible()
    card = page.get_by_role("button", name=re.compile("Alice Martin"))
    await expect(card).to_contain_text("+14155550132")
    await expect(card).to_contain_text("English")
    await sandbox.shoot(page, "phone-picker")

    await card.click()
    await page.get_by_role("button", name="Open my link").click()
    chat = page.get_by_role("log", name="Conversation")
    await expect(chat).to_contain_text("/start ")
    await expect(chat).to_contain_text(
        "Hello, and welcome. This is the assistant of Acme Lending.", timeout=SLOW
    )
    await page.get_by_role("button", name="Share my phone number").click()

    await expect(chat).to_contain_text("$1,234.50", timeout=SLOW)
    await expect(chat).to_contain_text("$89.99")
    await expect(chat.locator(".row-out .contact-phone")).to_have_text("+14155550132")
    await expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    await sandbox.shoot(page, "phone-alice")

    # The same chat on a desktop, reached through the address the phone shows.
    desktop = await sandbox.page(DESKTOP)
    await desktop.goto(page.url)
    await expect(desktop.get_by_role("log")).to_contain_text("Total: $1,324.49", timeout=SLOW)
    await sandbox.shoot(desktop, "desktop-alice")


async def test_wang_answers_a_question_in_chinese(sandbox: Sandbox):
    page = await sandbox.page(PHONE, is_mobile=True, has_touch=True)
    await page.get_by_role("button", name=re.compile("王小明")).click()
    await page.get_by_role("button", name="Open my link").click()
    chat = page.get_by_role("log", name="Conversation")
    await expect(page.get_by_role("button", name="回答一个问题")).to_be_visible(timeout=SLOW)
    await expect(chat).to_contain_text("Acme Lending")

    await page.get_by_role("button", name="回答一个问题").click()
    await expect(chat).to_contain_text("请输入您任一账户编号的最后 4 位字符", timeout=SLOW)
    message = page.get_by_role("textbox", name="Message")
    await message.fill("2001")
    await message.press("Enter")

    await expect(chat).to_contain_text("¥5,600.00", timeout=SLOW)
    await expect(message).to_have_value("")
    await sandbox.shoot(page, "phone-wang")
    assert await chinese_renders(page.locator(".bubble", has_text="¥5,600.00").last), (
        "Chinese is drawn as boxes: the machine lacks a CJK font (apt-get install fonts-noto-cjk)"
    )


# Two different characters drawn in the page's font: without a font that has them, both are the
# same empty box (what the browser draws for a missing glyph), and so is a code point no font has.
DRAW = r"""(el) => {
  const family = getComputedStyle(el).fontFamily;
  const draw = (text) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const ctx = canvas.getContext("2d");
    ctx.font = "48px " + family;
    ctx.fillText(text, 4, 52);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(",");
  };
  return [draw("您"), draw("款"), draw("\u{10FFFD}")];
}"""


async def chinese_renders(bubble) -> bool:
    """Whether Chinese text in this element is drawn as glyphs, not boxes."""
    nin, kuan, missing = await bubble.evaluate(DRAW)
    return len({nin, kuan, missing}) == 3


async def test_a_wrong_phone_from_the_menu_is_refused_politely(sandbox: Sandbox):
    page = await sandbox.page(DESKTOP)
    await page.get_by_role("button", name=re.compile("Priya Sharma")).click()
    await page.get_by_role("button", name="Open my link").click()
    chat = page.get_by_role("log", name="Conversation")
    await expect(page.get_by_role("button", name="Share my phone number")).to_be_visible(
        timeout=SLOW
    )

    await page.get_by_role("button", name="More actions").click()
    await page.get_by_role("button", name="Share a different phone number…").click()
    dialog = page.get_by_role("dialog", name="Share a different phone number")
    await dialog.get_by_label("Phone number").fill("+44 7700 900123")
    await sandbox.shoot(page, "desktop-dialog")
    await dialog.get_by_role("button", name="Share contact").click()

    await expect(chat).to_contain_text("Sorry, that does not match our records", timeout=SLOW)
    await expect(chat.locator(".row-out .contact-phone")).to_have_text("+44 7700 900123")

    await page.get_by_role("button", name="More actions").click()
    await page.locator("#menu").get_by_role("button", name="Switch persona").click()
    await expect(page.get_by_role("button", name=re.compile("Priya Sharma"))).to_be_focused()
    await page.get_by_role("button", name=re.compile("Alice Martin")).click()
    await expect(page.get_by_role("button", name="Open my link")).to_be_focused()
    await expect(chat).not_to_contain_text("Sorry")
    await expect(page).to_have_url(re.compile("#D-001$"))


async def test_messages_render_formatting_edits_deletions_and_buttons(
    bare: tuple[Sandbox, Bot],
):
    sandbox, bot = bare
    chat_id = PERSONA["user"]["id"]
    page = await sandbox.page(PHONE, is_mobile=True, has_touch=True)
    await page.get_by_role("button", name=re.compile("Ada Lovelace")).click()
    await page.get_by_role("button", name="Open my link").click()
    await sandbox.server.wait_until(BOT, lambda: bool(sandbox.server.bot(BOT).chats), within=10)
    chat = page.get_by_role("log", name="Conversation")
    await expect(chat).to_contain_text("/start tok_ada")

    formatted = await bot.send_message(
        chat_id,
        "<b>bold <i>both</i></b> <i>italic</i> <u>under</u> <s>gone</s> <code>c0de</code> "
        '<a href="https://pay.example/x">pay here</a> &lt;img src=x onerror=alert(1)&gt;\n'
        "<pre>line 1\n  line 2</pre>",
        parse_mode="HTML",
        reply_markup=InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Yes", callback_data="yes")],
                [InlineKeyboardButton("Open site", url="https://pay.example/site")],
            ]
        ),
    )
    doomed = await bot.send_message(chat_id, "This one will vanish")
    await bot.send_message(
        chat_id,
        "Pick one",
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton("Share it", request_contact=True)], ["Later"]],
            input_field_placeholder="Your answer",
        ),
    )
    bubble = chat.locator(".bubble-in").first
    await expect(bubble.locator("strong")).to_have_text("bold both")
    await expect(bubble.locator("strong em")).to_have_text("both")
    await expect(bubble.locator("em").last).to_have_text("italic")
    await expect(bubble.locator("u")).to_have_text("under")
    await expect(bubble.locator("s")).to_have_text("gone")
    await expect(bubble.locator("code.inline-code")).to_have_text("c0de")
    await expect(bubble.locator("pre")).to_have_text("line 1\n  line 2")
    await expect(bubble).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(chat.locator("img")).to_have_count(0)
    link = bubble.get_by_role("link", name="pay here")
    await expect(link).to_have_attribute("href", "https://pay.example/x")
    await expect(link).to_have_attribute("rel", re.compile("noopener"))
    site = chat.get_by_role("link", name="Open site")
    await expect(site).to_have_attribute("target", "_blank")
    await expect(site).to_have_attribute("rel", re.compile("noopener"))
    await expect(page.get_by_role("textbox", name="Message")).to_have_attribute(
        "placeholder", "Your answer"
    )
    await sandbox.shoot(page, "phone-formatting")

    await chat.get_by_role("button", name="Yes").click()
    await sandbox.server.wait_until(BOT, lambda: bool(sandbox.server.bot(BOT).callback_queries))
    updates = await bot.get_updates()
    query = next(u.callback_query for u in updates if u.callback_query)
    assert (query.data, query.message.message_id) == ("yes", formatted.message_id)
    await bot.answer_callback_query(query.id, text="Noted, thank you")
    await expect(page.get_by_role("status").filter(has_text="Noted, thank you")).to_be_visible()

    await bot.edit_message_text(
        "Now <b>edited</b>", chat_id, formatted.message_id, parse_mode="HTML"
    )
    await bot.delete_message(chat_id, doomed.message_id)
    await expect(chat).to_contain_text("Now edited")
    await expect(chat.locator(".bubble-in").first.locator(".edited")).to_have_text("edited")
    await expect(chat).not_to_contain_text("This one will vanish")
    await expect(chat).not_to_contain_text("bold both")

    await page.get_by_role("button", name="Later").click()
    await page.get_by_role("button", name="Share it").click()
    await expect(chat.locator(".row-out .contact-phone")).to_have_text("+447700900001")
    texts = [m["text"] for m in sandbox.server.transcript(BOT, chat_id)["messages"]]
    assert "Later" in texts
    await sandbox.shoot(page, "phone-render")
    assert sandbox.problems == []

    await sandbox.server.stop()
    await expect(page.get_by_role("alert")).to_contain_text("can't reach the sandbox server")
    await sandbox.shoot(page, "phone-unreachable")
    sandbox.problems.clear()  # the browser logs the refused connections, as it should
