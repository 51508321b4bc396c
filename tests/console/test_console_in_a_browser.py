"""Agents at work in Chromium: sign in, claim a ticket as another agent tries, talk to the
debtor through the real bot and the local Telegram, hand the chat back."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from bot.db.models import AuditEvent, HandoffTicket, Promise
from tests.console.conftest import Console, ask_for_a_person
from tests.telegram.conftest import ALICE, BOT

pytestmark = [
    pytest.mark.parametrize("world", ["polling"], indirect=True),
    pytest.mark.timeout(240),
]


async def test_two_agents_claim_at_once_and_the_winner_talks_to_the_debtor(console: Console):
    world = console.world
    ada = await console.signed_in("ada")
    brian = await console.signed_in("brian", await console.context())
    dialogs: list[str] = []
    for page in (ada, brian):
        page.on(
            "dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss()))
        )
        await expect(page.locator("#live")).to_have_class("live-dot on")

    # A debtor asks for a person: both queues show the ticket without reloading.
    await ask_for_a_person(world)
    for page in (ada, brian):
        await expect(page.locator("#queue-rows tr", has_text="Alice Martin")).to_be_visible()
    await console.shoot(ada, "queue")

    # Both press Claim at the same instant: exactly one gets it, the other is told who did.
    await asyncio.gather(*(p.get_by_role("button", name="Claim").click() for p in (ada, brian)))
    await asyncio.gather(*(p.wait_for_load_state() for p in (ada, brian)))
    winner, loser = (ada, brian) if "/tickets/" in ada.url else (brian, ada)
    winner_name = "Ada Lovelace" if winner is ada else "Brian Kernighan"
    assert "/tickets/" in winner.url and "/tickets/" not in loser.url
    await expect(loser.get_by_role("status")).to_contain_text(
        f"Another agent took that ticket a moment before you. ({winner_name})"
    )
    async with world.sessions() as s:
        ticket = await s.scalar(select(HandoffTicket))
        claims = await s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "ticket_claimed")
        )
    holder = console.staff["ada" if winner is ada else "brian"]
    assert (ticket.status, ticket.claimed_by, claims) == ("claimed", holder, 1)

    # The holder writes; the debtor receives exactly that text through Telegram.
    await winner.get_by_label("Reply", exact=True).fill(
        "Hello Alice, this is Acme. How can I help?"
    )
    await winner.get_by_role("button", name="Send to debtor").click()
    await expect(winner.locator("#composer-status")).to_have_text("Sent to the debtor.")
    texts = await world.texts(ALICE, 5)
    assert texts[-1] == "Hello Alice, this is Acme. How can I help?"
    await expect(winner.locator(".item.agent").last).to_contain_text("✓ sent")

    # The debtor answers: it shows at once, as text; the bot says only that a person is here.
    world.sandbox.send_text(BOT, ALICE, "<script>alert(1)</script>")
    await expect(winner.locator(".item.debtor .bubble").last).to_have_text(
        "<script>alert(1)</script>", timeout=5_000
    )
    texts = await world.texts(ALICE, 6)
    assert "team" in texts[-1]
    world.sandbox.send_text(BOT, ALICE, "my balance please")
    await expect(winner.locator(".item.debtor .bubble").last).to_have_text("my balance please")
    await asyncio.sleep(1.5)
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 6  # the bot stayed quiet
    await console.shoot(winner, "conversation")

    # Hand back: the debtor is told, and the bot answers again.
    await winner.get_by_role("button", name="Hand back to the bot").click()
    await expect(winner.get_by_role("status")).to_contain_text("back with the bot")
    await world.texts(ALICE, 7)
    await world.say(ALICE, "/balance", expect=8)
    assert dialogs == []


async def test_the_console_refuses_strangers_forged_posts_and_agents_on_admin_pages(
    console: Console,
):
    stranger = await (await console.context()).new_page()
    await stranger.goto(console.url)
    assert "/console/login" in stranger.url
    live = await stranger.request.get(console.url + "live")
    assert live.status == 401

    ada = await console.signed_in("ada")
    answer = await ada.goto(console.url + "canned")
    assert answer is not None and answer.status == 403
    forged = await ada.request.post(console.url + "tickets/1/claim", form={"x": "1"})
    assert forged.status == 403

    grace = await console.signed_in("grace")
    await grace.goto(console.url + "canned")
    await grace.get_by_label("Title").fill("Payment link")
    await grace.get_by_label("Text").fill(
        "Hello {{ first_name }}, you can pay here: {{ payment_link }}"
    )
    await grace.get_by_role("button", name="Save").click()
    await expect(grace.get_by_role("status")).to_have_text("Saved.")
    await grace.get_by_label("Title").fill("Broken")
    await grace.get_by_label("Text").fill("Hello {{ first_name")
    await grace.get_by_role("button", name="Save").click()
    await expect(grace.get_by_role("alert")).to_contain_text("The text has a mistake")
    await expect(grace.get_by_label("Text")).to_have_value("Hello {{ first_name")

    # The 403 and 400 answers above were the point; the browser reports them as errors.
    expected = ("status of 403 (Forbidden)", "status of 400 (Bad Request)")
    console.problems[:] = [p for p in console.problems if not p.endswith(expected)]
    await ada.get_by_role("button", name="Sign out").click()
    await expect(ada.get_by_label("Username")).to_be_visible()
    await ada.goto(console.url)
    assert "/console/login" in ada.url


async def test_an_agent_notes_and_records_a_promise_for_the_debtor(console: Console):
    world = console.world
    await ask_for_a_person(world)
    ada = await console.signed_in("ada")
    await ada.get_by_role("button", name="Take the next").click()
    await expect(ada.get_by_role("heading", name="Alice Martin")).to_be_visible()

    # A private note shows in the history at once, set apart, and is never sent.
    await ada.get_by_label("Reply", exact=True).fill("Said she is paid on the 15th")
    await ada.get_by_role("button", name="Add private note").click()
    await expect(ada.locator(".item.note .bubble")).to_have_text("Said she is paid on the 15th")
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 4

    # A promise under the policy's smallest share is refused, saying why; a good one is kept.
    await ada.get_by_text("Record a promise to pay").click()
    form = ada.locator("form.act", has=ada.get_by_role("button", name="Record promise"))
    await form.get_by_label("Amount").fill("5.00")
    when = await form.get_by_label("By").get_attribute("min")
    await form.get_by_label("By").fill(when)
    await form.get_by_role("button", name="Record promise").click()
    await expect(form.get_by_role("status")).to_contain_text("at least")
    await form.get_by_label("Amount").fill("500.00")
    await form.get_by_role("button", name="Record promise").click()
    await expect(ada.locator("#composer-status")).to_have_text("Promise recorded.")
    await expect(ada.locator("#file")).to_contain_text("$500.00 by")
    async with world.sessions() as s:
        promise = await s.scalar(select(Promise))
    assert (promise.amount_minor, promise.source) == (50000, f"staff:{console.staff['ada']}")

    # With every ticket held, taking the next says so.
    await ada.goto(console.url)
    await ada.get_by_role("button", name="Take the next").click()
    await expect(ada.get_by_role("status")).to_have_text(
        "Nobody is waiting: every ticket has an agent."
    )
