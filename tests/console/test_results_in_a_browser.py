"""The results page in Chromium, as an admin and as an agent sees it: every section counts, its
charts are drawn, a period is picked with the filters, a CSV downloads."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from tests.browser import chromium
from tests.console.test_auth import PASSWORD, T0, Clock, _app
from tests.helpers import add_staff
from tests.results.test_figures import build

pytestmark = pytest.mark.once
DESKTOP = {"width": 1366, "height": 900}


async def sign_in(page: Page, base: str, username: str) -> None:
    await page.goto(f"{base}/console/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Queue")).to_be_visible()


async def test_results_drawn_and_exported_in_chromium(sessions, tmp_path: Path) -> None:
    await build(sessions, tmp_path)
    await add_staff(sessions, "grace", "admin", name="Grace Hopper", now=T0)
    problems: list[str] = []
    async with TestServer(_app(sessions, Clock())) as server, chromium() as browser:
        base = str(server.make_url("")).rstrip("/")
        admin = await (
            await browser.new_context(viewport=DESKTOP, accept_downloads=True)
        ).new_page()
        admin.on("pageerror", lambda e: problems.append(str(e)))
        await sign_in(admin, base, "grace")
        await admin.get_by_role("link", name="Results").click()
        await expect(admin.get_by_role("heading", name="Results", exact=True)).to_be_visible()
        await admin.get_by_label("From", exact=True).fill("2026-11-01")
        await admin.get_by_label("To", exact=True).fill("2026-11-30")
        await admin.get_by_role("button", name="Show").click()
        await expect(admin.locator(".results-body[aria-busy='false']")).to_have_count(4)
        await expect(admin.locator(".result")).to_have_count(12)
        funnel = admin.locator("[data-table=funnel] svg.chart")
        await expect(funnel.locator("text.value")).to_have_text(
            ["7", "5", "4", "4", "4", "4", "3", "1", "1"]
        )
        await expect(admin.locator("[data-table=roll_rates] svg.chart text.cell")).to_have_count(7)
        await expect(admin.locator("[data-table=recovered] .chart-title")).to_have_text(
            ["CNY", "USD"]
        )
        await admin.locator("[data-table=cure] summary").click()
        cure = admin.locator("[data-table=cure] table tbody tr").last
        await expect(cure).to_have_text("all overdue5240.0%", use_inner_text=False)
        await admin.screenshot(path=str(tmp_path / "results.png"), full_page=True)
        async with admin.expect_download() as waiting:
            await admin.locator("[data-table=cure] a.csv").click()
        download = await waiting.value
        body = Path(await download.path()).read_text(encoding="utf-8")  # noqa: ASYNC240
        assert list(csv.reader(io.StringIO(body)))[-1] == ["all overdue", "5", "2", "0.4000"]

        agent = await (
            await browser.new_context(viewport={"width": 390, "height": 844})
        ).new_page()
        agent.on("pageerror", lambda e: problems.append(str(e)))
        await sign_in(agent, base, "ada")
        await agent.goto(f"{base}/console/results?from=2026-11-01&to=2026-11-30")
        await expect(agent.locator(".results-section")).to_have_count(1)
        await expect(agent.locator("[data-table=queue_times]")).to_contain_text("Time to claim")
        await agent.screenshot(path=str(tmp_path / "results-agent-phone.png"), full_page=True)
    print(f"screenshots in {tmp_path}")
    assert problems == []
