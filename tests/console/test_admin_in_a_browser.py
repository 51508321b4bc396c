"""An admin manages staff and reads the policy in Chromium, while the agents they manage are
signed in in browsers of their own."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.console.conftest import PASSWORD, Console


async def sign_in(console: Console, username: str, password: str) -> Page:
    """A new browser at the sign-in form, filled in; the page after it."""
    page = await (await console.context()).new_page()
    await page.goto(console.url)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    return page


def row(page: Page, username: str):
    return page.locator(f'tr[data-username="{username}"]')


async def test_an_admin_adds_disables_enables_and_resets_an_agent(console: Console):
    grace = await console.signed_in("grace")
    grace.on("dialog", lambda dialog: dialog.accept())
    await grace.get_by_role("link", name="Staff").click()
    await expect(grace.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    await expect(row(grace, "grace").get_by_role("button", name="Disable")).to_have_count(0)

    await grace.get_by_label("Username").fill("carol")
    await grace.get_by_label("Name shown in the console").fill("Carol Shaw")
    await grace.get_by_label("Role").select_option("agent")
    await grace.get_by_role("button", name="Add").click()
    await expect(grace.get_by_text("Account added for Carol Shaw")).to_be_visible()
    first_password = (await grace.locator("#handed-password").inner_text()).strip()
    await console.shoot(grace, "staff-added")

    carol = await sign_in(console, "carol", first_password)
    await expect(carol.get_by_role("heading", name="Queue")).to_be_visible()
    await expect(carol.get_by_role("link", name="Staff")).to_have_count(0)

    await grace.get_by_role("link", name="Staff").click()
    await expect(grace.locator("#handed-password")).to_have_count(0)
    await expect(row(grace, "carol").locator("td").nth(4)).to_have_text("1")
    await expect(row(grace, "carol")).not_to_contain_text("never")

    await row(grace, "carol").get_by_role("button", name="Disable").click()
    await expect(grace.get_by_role("status")).to_have_text(
        "Carol Shaw is disabled and signed out everywhere."
    )
    await expect(row(grace, "carol")).to_contain_text("disabled")
    await carol.reload()
    await expect(carol.get_by_role("button", name="Sign in")).to_be_visible()

    await row(grace, "carol").get_by_role("button", name="Enable").click()
    await expect(grace.get_by_role("status")).to_contain_text("Carol Shaw can sign in again")
    await row(grace, "carol").get_by_role("button", name="Reset password").click()
    await expect(grace.get_by_text("New password for Carol Shaw")).to_be_visible()
    second_password = (await grace.locator("#handed-password").inner_text()).strip()
    assert second_password != first_password

    refused = await sign_in(console, "carol", first_password)
    await expect(refused.get_by_text("Wrong username or password.")).to_be_visible()
    carol = await sign_in(console, "carol", second_password)
    await expect(carol.get_by_role("heading", name="Queue")).to_be_visible()

    # Carol makes the password her own from the link on her name.
    await carol.get_by_role("link", name="Carol Shaw").click()
    await carol.get_by_label("Current password").fill(second_password)
    await carol.get_by_label("New password", exact=True).fill(PASSWORD)
    await carol.get_by_label("New password again").fill(PASSWORD)
    await carol.get_by_role("button", name="Change password").click()
    await expect(carol.get_by_role("status")).to_have_text("Your password is changed.")
    await carol.get_by_role("link", name="Queue").click()
    await expect(carol.get_by_role("heading", name="Queue")).to_be_visible()

    ada = await console.signed_in("ada")
    for path in ("staff", "policy"):
        answer = await ada.goto(console.url + path)
        assert answer is not None and answer.status == 403, path
        await expect(ada.get_by_text("This page is for admins only.")).to_be_visible()
    # The 403s were the point; the browser logs them.
    expected = "status of 403 (Forbidden)"
    console.problems[:] = [p for p in console.problems if not p.endswith(expected)]


async def test_an_admin_reads_the_policy_and_opens_a_stages_message(console: Console):
    grace = await console.signed_in("grace")
    await grace.get_by_role("link", name="Policy").click()
    await expect(grace.get_by_role("heading", name="Collection policy")).to_be_visible()
    await expect(grace.get_by_text("The built-in default")).to_be_visible()
    mid = grace.locator("tr", has_text="6–18 days late")
    await expect(mid).to_contain_text("every 4 days")
    await expect(grace.get_by_text("08:00–21:00, the debtor's local time")).to_be_visible()
    await console.shoot(grace, "policy")
    await mid.get_by_role("link", name="Edit stage_mid in zh_CN").click()
    await expect(grace.get_by_role("heading", name="stage_mid")).to_be_visible()
    await expect(grace).to_have_url(console.url + "templates/stage_mid/zh_CN")
