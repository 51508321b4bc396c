"""The console in a real browser: the real bot and web server, the local Telegram, staff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from bot.db.models import HandoffTicket
from tests.browser import chromium
from tests.helpers import add_staff
from tests.telegram import conftest as telegram
from tests.telegram.conftest import ALICE, World

# The real bot against the local Telegram, as the end-to-end tests run it.
sandbox, world = telegram.sandbox, telegram.world

SLOW = 20_000
expect.set_options(timeout=SLOW)
DESKTOP = {"width": 1366, "height": 820}
PASSWORD = "correct horse battery"


@dataclass
class Console:
    """The running bot with its console, a browser, and what went wrong in pages."""

    world: World
    browser: Browser
    shots: Path
    staff: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The console's address."""
        return f"{self.world.process.web_url}/console/"

    async def context(self, **options: object) -> BrowserContext:
        """A fresh browser (cookies of its own) that records page errors."""
        context = await self.browser.new_context(viewport=DESKTOP, **options)
        context.set_default_timeout(SLOW)
        return context

    async def signed_in(self, username: str, context: BrowserContext | None = None) -> Page:
        """A page of the console, signed in as ``username``."""
        context = context or await self.context()
        page = await context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        await page.goto(self.url)
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Queue")).to_be_visible()
        return page

    async def shoot(self, page: Page, name: str) -> Path:
        """Save a screenshot and return its path."""
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path))
        return path

    async def ticket_of(self, debtor_ref_user: dict) -> HandoffTicket | None:
        """The newest ticket (the tests have one debtor asking for a person at a time)."""
        async with self.world.sessions() as s:
            return await s.scalar(select(HandoffTicket).order_by(HandoffTicket.id.desc()))


async def ask_for_a_person(bot: World, user: dict = ALICE, ref: str = "D-001") -> None:
    """The debtor links, verifies and asks for a person: a ticket opens through the bot."""
    await bot.say(user, f"/start {bot.tokens[ref]}", expect=1)
    await bot.say(user, "1001" if ref == "D-001" else "2001", expect=3)
    await bot.say(user, "I want to talk to a person", expect=4)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium."""
    async with chromium() as b:
        yield b


@pytest.fixture
async def console(
    world: World,
    browser: Browser,
    tmp_path: Path,
) -> AsyncIterator[Console]:
    """The bot running (polling), two agents and an admin, and a browser."""
    running = Console(world, browser, tmp_path)
    for username, role, name in (
        ("ada", "agent", "Ada Lovelace"),
        ("brian", "agent", "Brian Kernighan"),
        ("grace", "admin", "Grace Hopper"),
    ):
        running.staff[username] = await add_staff(
            world.sessions, username, role, password=PASSWORD, name=name
        )
    yield running
    print(f"screenshots in {tmp_path}")
    assert running.problems == [], running.problems
