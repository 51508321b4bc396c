"""Take the console's screenshots in docs/ from a running sandbox, as a newcomer would see it.

    .venv/bin/python docs/screenshots.py

Starts `nudgebot sandbox` on a temporary SQLite file, waits for the sample debtors who ask for a
person, signs in as the demo agent in Debian's Chromium, claims the oldest ticket, answers it,
and saves docs/console-queue.png and docs/console-conversation.png; then signs in as the demo
admin, types a threat into stage_mid to show the editor's checks, and saves
docs/console-template-editor.png, docs/console-staff.png and docs/console-policy.png; and the
results page over the tests' hand-made November portfolio as docs/console-results.png.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.db.engine import create_engine, session_factory
from bot.db.models import HandoffTicket
from bot.sandbox.launch import DEMO_STAFF, SANDBOX_BOT, sandbox_running
from bot.settings import load_settings
from tests.browser import CHROMIUM, CHROMIUM_ARGS

DOCS = Path(__file__).resolve().parent
SIZE = {"width": 1366, "height": 768}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/shots.db"
        settings = load_settings(database_url=url, web_port=0, creditor_name="Acme Lending")
        async with sandbox_running(settings) as (server, process, personas):
            engine = create_engine(url)
            sessions = session_factory(engine)
            for _ in range(300):
                async with sessions() as s:
                    if await s.scalar(select(func.count()).select_from(HandoffTicket)) >= 2:
                        break
                await asyncio.sleep(0.1)
            await engine.dispose()
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = await signed_in(browser, process.web_url, DEMO_STAFF[0])
                await expect(page.locator("#queue-rows tr")).to_have_count(2)
                await page.screenshot(path=str(DOCS / "console-queue.png"))
                await (
                    page.locator("#queue-rows tr", has_text="Carlos Ruiz")
                    .get_by_role("button", name="Claim")
                    .click()
                )
                await page.get_by_label("Reply", exact=True).fill(
                    "Hello Carlos, I am sorry to hear about your job. We can pause reminders for"
                    " a few weeks, or spread the amount over a few months. Which would help?"
                )
                await page.get_by_role("button", name="Send to debtor").click()
                await expect(page.locator("#composer-status")).to_have_text("Sent to the debtor.")
                carlos = personas[4]["user"]
                server.send_text(
                    SANDBOX_BOT, carlos, "A plan over three months would really help."
                )
                await expect(page.locator(".item.debtor .bubble").last).to_contain_text(
                    "three months"
                )
                await page.get_by_label("Reply", exact=True).fill(
                    "Said she starts a new job in January"
                )
                await page.get_by_role("button", name="Add private note").click()
                await expect(page.locator(".item.note")).to_have_count(1)
                await page.get_by_text("Record a repayment plan").click()
                await page.screenshot(path=str(DOCS / "console-conversation.png"))
                await admin_pages(await signed_in(browser, process.web_url, DEMO_STAFF[1]))
                await browser.close()
    await results_page()
    print("saved docs/console-{queue,conversation,template-editor,staff,policy,results}.png")


async def results_page() -> None:
    """The results page over the tests' hand-made November (a sandbox has a few debtors and
    no history), as an admin sees it."""
    from aiohttp.test_utils import TestServer

    from bot.db import migrate
    from tests.console.test_auth import PASSWORD, T0, Clock, _app
    from tests.helpers import add_staff
    from tests.results.test_figures import build

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/results.db"
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        await build(sessions, Path(tmp))
        await add_staff(sessions, "grace", "admin", name="Grace Hopper", now=T0)
        async with TestServer(_app(sessions, Clock())) as server, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            base = str(server.make_url("")).rstrip("/")
            page = await signed_in(browser, base, ("grace", PASSWORD, "admin", "Grace Hopper"))
            await page.set_viewport_size({"width": 1366, "height": 1400})
            await page.goto(f"{base}/console/results?from=2026-11-01&to=2026-11-30")
            await expect(page.locator(".results-body[aria-busy='false']")).to_have_count(4)
            await page.screenshot(path=str(DOCS / "console-results.png"))
            await browser.close()
        await engine.dispose()


async def signed_in(browser: Browser, web_url: str, staff: tuple[str, str, str, str]) -> Page:
    """A new browser signed in to the console as one of the sandbox's staff."""
    page = await (await browser.new_context(viewport=SIZE)).new_page()
    user, password, _, _ = staff
    await page.goto(f"{web_url}/console/")
    await page.get_by_label("Username").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    return page


async def admin_pages(page: Page) -> None:
    """The admin's pages: the editor refusing a threat, staff, policy."""
    await page.get_by_role("link", name="Templates").click()
    await page.get_by_role("link", name="Edit stage_mid in en").click()
    text = page.get_by_label("Text", exact=True)
    body = await text.input_value()
    await text.fill(
        body.replace(
            "please tell us what is happening.",
            "please tell us what is happening. Otherwise we will take legal action.",
        )
    )
    await expect(page.locator("#checks")).to_contain_text("legal action")
    await page.screenshot(path=str(DOCS / "console-template-editor.png"))
    await page.get_by_role("link", name="Staff").click()
    await page.screenshot(path=str(DOCS / "console-staff.png"))
    await page.get_by_role("link", name="Policy").click()
    await page.screenshot(path=str(DOCS / "console-policy.png"))


if __name__ == "__main__":
    asyncio.run(main())
