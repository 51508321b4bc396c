"""The staff, own-password and policy pages through a real aiohttp server: what each form does to
the accounts, what is refused, what is shown once and never again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.db.models import AuditEvent, StaffUser
from bot.policy import DEFAULT_POLICY, load_policy
from bot.staff.accounts import StaffError, create_staff, disable_staff, generate_password
from bot.web.console.policy import dpd_range
from tests.console.test_auth import PAGE, PASSWORD, T0, Clock, _app, _csrf, _get, _sign_in
from tests.helpers import add_staff

SECRET = re.compile(r'<code class="secret" id="handed-password">([^<]+)</code>')


@pytest.fixture
async def admin(sessions) -> AsyncIterator[TestClient]:
    """A browser-like client signed in as Grace, an admin; Ada is an agent."""
    clock = Clock()
    await add_staff(sessions, "grace", "admin", name="Grace Hopper", now=T0)
    await add_staff(sessions, "ada", "agent", name="Ada Lovelace", now=T0)
    async with TestClient(TestServer(_app(sessions, clock))) as client:
        assert (await _sign_in(client, "grace"))[0] == 303
        client.clock = clock
        yield client


@asynccontextmanager
async def browser(admin: TestClient) -> AsyncIterator[TestClient]:
    """Another browser (cookies of its own) on the same running server."""
    other = TestClient(admin.server)
    try:
        yield other
    finally:
        await other.session.close()


async def _post(client: TestClient, path: str, **form: str) -> tuple[int, str, str]:
    data = {"csrf": await _csrf(client), **form}
    async with client.post(path, data=data, headers=PAGE, allow_redirects=False) as response:
        return response.status, response.headers.get("Cache-Control", ""), await response.text()


async def _id(sessions, username: str) -> int:
    async with sessions() as s:
        return await s.scalar(select(StaffUser.id).where(StaffUser.username == username))


async def _audit(sessions, kind: str) -> list[tuple[str, str | None]]:
    async with sessions() as s:
        rows = await s.execute(
            select(AuditEvent.actor, AuditEvent.detail)
            .where(AuditEvent.kind == kind)
            .order_by(AuditEvent.id)
        )
        return [tuple(r) for r in rows]


def test_generated_passwords_are_long_unambiguous_and_different():
    made = {generate_password() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        assert re.fullmatch(r"[a-hj-km-np-z2-9]{4}(-[a-hj-km-np-z2-9]{4}){3}", password)


async def test_an_admin_adds_an_agent_whose_password_is_shown_once(admin, sessions):
    status, cache, page = await _post(
        admin, "/console/staff", username="Carol", display_name="Carol Shaw", role="agent"
    )
    assert (status, cache) == (200, "no-store")
    assert "Account added for Carol Shaw" in page
    password = SECRET.search(page).group(1)
    carol = await _id(sessions, "carol")
    grace = await _id(sessions, "grace")
    assert await _audit(sessions, "staff_added") == [
        ("test", f"staff:{grace} grace admin"),
        ("test", f"staff:{await _id(sessions, 'ada')} ada agent"),
        (f"staff:{grace}", f"staff:{carol} carol agent"),
    ]
    # The list afterwards says who Carol is, never her password.
    status, _, listing = await _get(admin, "/console/staff")
    assert status == 200 and "Carol Shaw" in listing and password not in listing
    async with browser(admin) as guessing, browser(admin) as carols:
        assert (await _sign_in(guessing, "carol", PASSWORD))[0] == 401
        assert (await _sign_in(carols, "carol", password))[0] == 303
    async with sessions() as s:
        stored = await s.get(StaffUser, carol)
        assert stored.last_login_at is not None and password not in stored.password_hash


@pytest.mark.parametrize(
    ("form", "why"),
    [
        ({"username": "c", "role": "agent"}, "Username 'c' must be 3 to 64 characters"),
        ({"username": "ada", "role": "agent"}, "Username 'ada' is taken."),
        ({"username": "carol", "role": "owner"}, "Role 'owner' must be one of agent, admin."),
        ({"username": "carol", "role": "agent", "display_name": "x" * 101}, "at most 100"),
    ],
)
async def test_a_bad_new_account_is_refused_politely_and_the_form_kept(admin, sessions, form, why):
    status, cache, page = await _post(admin, "/console/staff", **form)
    assert status == 400 and cache == ""
    assert why in page.replace("&#39;", "'")
    assert f'value="{form["username"]}"' in page
    assert 'class="secret"' not in page
    async with sessions() as s:
        assert await s.scalar(select(StaffUser.id).where(StaffUser.username == "carol")) is None


async def test_disable_ends_the_sessions_and_enable_lets_the_old_password_in(admin, sessions):
    ada_id = await _id(sessions, "ada")
    async with browser(admin) as ada:
        await _sign_in(ada, "ada")
        assert (await _get(ada, "/console/"))[0] == 200
        status, _, _ = await _post(admin, f"/console/staff/{ada_id}/disable")
        assert status == 303
        status, _, page = await _get(admin, f"/console/staff?done=disabled&who={ada_id}")
        assert "Ada Lovelace is disabled and signed out everywhere." in page
        assert (await _get(ada, "/console/"))[0] == 302
        assert (await _sign_in(ada, "ada"))[0] == 401
        assert (await _post(admin, f"/console/staff/{ada_id}/enable"))[0] == 303
        assert (await _sign_in(ada, "ada"))[0] == 303
    grace = await _id(sessions, "grace")
    assert await _audit(sessions, "staff_disabled") == [(f"staff:{grace}", f"staff:{ada_id}")]
    assert await _audit(sessions, "staff_enabled") == [(f"staff:{grace}", f"staff:{ada_id}")]


async def test_a_reset_password_is_shown_once_and_the_old_one_stops(admin, sessions):
    ada_id = await _id(sessions, "ada")
    async with browser(admin) as ada:
        await _sign_in(ada, "ada")
        status, cache, page = await _post(admin, f"/console/staff/{ada_id}/password")
        assert (status, cache) == (200, "no-store")
        assert "New password for Ada Lovelace" in page
        assert "1 session of theirs was signed out" in page
        password = SECRET.search(page).group(1)
        assert (await _get(ada, "/console/"))[0] == 302
        assert (await _sign_in(ada, "ada"))[0] == 401
        assert (await _sign_in(ada, "ada", password))[0] == 303
    assert await _audit(sessions, "staff_password_set") == [
        (f"staff:{await _id(sessions, 'grace')}", f"staff:{ada_id}")
    ]


async def test_an_admin_cannot_disable_or_reset_themselves(admin, sessions):
    grace = await _id(sessions, "grace")
    status, _, page = await _post(admin, f"/console/staff/{grace}/disable")
    assert status == 409
    assert "You cannot disable your own account; ask another admin." in page
    status, _, page = await _post(admin, f"/console/staff/{grace}/password")
    assert status == 409 and "Your password" in page and 'class="secret"' not in page
    assert (await _get(admin, "/console/"))[0] == 200
    assert (await _post(admin, "/console/staff/9999/disable"))[0] == 404


async def test_of_two_admins_disabling_each_other_at_once_one_remains(sessions):
    first = await add_staff(sessions, "first", "admin", now=T0)
    second = await add_staff(sessions, "second", "admin", now=T0)

    async def disable(username: str, by: int) -> str:
        try:
            async with sessions.begin() as s:
                await disable_staff(s, username, now=T0, actor=f"staff:{by}", by=by)
            return "disabled"
        except StaffError as exc:
            return str(exc)

    outcomes = await asyncio.gather(disable("second", first), disable("first", second))
    assert outcomes.count("disabled") == 1
    refused = next(o for o in outcomes if o != "disabled")
    assert refused.endswith("is the only active admin; add or enable another admin first")
    async with sessions() as s:
        active = await s.scalars(
            select(StaffUser.username).where(
                StaffUser.role == "admin", StaffUser.disabled_at.is_(None)
            )
        )
        assert len(list(active)) == 1


async def test_agents_get_403_from_staff_and_policy_pages_and_their_forms(admin, sessions):
    ada_id = await _id(sessions, "ada")
    async with browser(admin) as ada:
        await _sign_in(ada, "ada")
        for path in ("/console/staff", "/console/policy"):
            status, _, page = await _get(ada, path)
            assert status == 403 and "This page is for admins only." in page
        for path in ("/console/staff", f"/console/staff/{ada_id}/password"):
            status, _, page = await _post(ada, path, username="mallory", role="admin")
            assert status == 403 and 'class="secret"' not in page
        _, _, home = await _get(ada, "/console/")
        assert 'href="/console/staff"' not in home and 'href="/console/policy"' not in home
    async with sessions() as s:
        assert await s.scalar(select(StaffUser).where(StaffUser.username == "mallory")) is None
    # A forged form without the session's token does nothing either.
    async with admin.post(f"/console/staff/{ada_id}/disable", data={}, headers=PAGE) as answer:
        assert answer.status == 403
    async with sessions() as s:
        assert (await s.get(StaffUser, ada_id)).disabled_at is None


async def test_staff_change_their_own_password_and_stay_signed_in_here_only(admin, sessions):
    async with browser(admin) as elsewhere:
        await _sign_in(elsewhere, "grace")
        new = "a much longer secret"
        for form, why in (
            ({"current": "wrong password!", "new": new, "again": new}, "current password is not"),
            ({"current": PASSWORD, "new": new, "again": new + "x"}, "two new passwords differ"),
            ({"current": PASSWORD, "new": "short", "again": "short"}, "at least 10 characters"),
            ({"current": PASSWORD, "new": PASSWORD, "again": PASSWORD}, "the same as the"),
        ):
            status, _, page = await _post(admin, "/console/account/password", **form)
            assert status == 400 and why in page, why
        status, _, page = await _post(
            admin, "/console/account/password", current=PASSWORD, new=new, again=new
        )
        assert status == 200 and "Your password is changed. 1 other session signed out." in page
        assert (await _get(admin, "/console/"))[0] == 200
        assert (await _get(elsewhere, "/console/"))[0] == 302
        assert (await _sign_in(elsewhere, "grace"))[0] == 401
        assert (await _sign_in(elsewhere, "grace", new))[0] == 303
    grace = f"staff:{await _id(sessions, 'grace')}"
    assert await _audit(sessions, "staff_password_changed") == [(grace, grace)]


async def test_guessing_the_current_password_locks_like_failed_sign_ins(admin, sessions):
    new = "a much longer secret"
    for _ in range(5):
        status, _, page = await _post(
            admin, "/console/account/password", current="a guess, wrong", new=new, again=new
        )
        assert status == 400 and "The current password is not right" in page
    status, _, page = await _post(
        admin, "/console/account/password", current=PASSWORD, new=new, again=new
    )
    assert status == 400 and "Too many wrong passwords; try again after 09:15 UTC." in page
    async with browser(admin) as other:
        assert (await _sign_in(other, "grace"))[0] == 401
    grace = f"staff:{await _id(sessions, 'grace')}"
    failed = [detail for _, detail in await _audit(sessions, "staff_sign_in_failed")]
    assert failed[:5] == ["wrong current password when changing it"] * 5
    assert failed[5].startswith("locked until 2026-11-02T09:15:00+00:00")  # the other browser
    assert [actor for actor, _ in await _audit(sessions, "staff_locked")] == [grace]
    assert await _audit(sessions, "staff_password_changed") == []


async def test_the_staff_list_shows_status_last_sign_in_and_open_sessions(admin, sessions):
    async with sessions.begin() as s:
        await create_staff(s, "dave", PASSWORD, "agent", now=T0, actor="test")
        dave = (await s.execute(select(StaffUser).filter_by(username="dave"))).scalar_one()
        dave.locked_until = T0 + timedelta(minutes=10)
    _, _, page = await _get(admin, "/console/staff")
    rows = dict(re.findall(r'data-username="([a-z]+)">(.*?)</tr>', page, re.S))
    assert "locked" in rows["dave"] and "until 02 Nov 09:10" in rows["dave"]
    assert "never" in rows["dave"] and "never" in rows["ada"]
    assert "02 Nov 09:00" in rows["grace"] and ">you<" in rows["grace"]
    assert "<td>1</td>" in rows["grace"]
    assert "Disable" not in rows["grace"] and "Disable" in rows["ada"]


def test_stage_ranges_in_words():
    stages = {s.name: dpd_range(s) for s in load_policy().stages}
    assert stages == {
        "pre_due": "3 days to 1 day before the due date",
        "early": "1–5 days late",
        "mid": "6–18 days late",
        "late": "19–28 days late",
    }


async def test_the_policy_page_shows_the_policy_in_force_and_links_each_stage(admin):
    status, _, page = await _get(admin, "/console/policy")
    assert status == 200
    assert "The built-in default" in page and DEFAULT_POLICY.name in page
    for link in ("stage_pre_due/en", "stage_early/zh_CN", "stage_mid/en", "stage_late/zh_CN"):
        assert f'href="/console/templates/{link}"' in page
    for fact in (
        "6–18 days late", "every 4 days", "08:00–21:00, the debtor&#39;s local time",
        "7 proactive messages in any 7 days", "20 hours between two",
        "from 29 days late: no more reminders", "30 days from today", "10% of what is owed",
        "2 to 6 installments", "at most 30 days", "off", "always (the law)",
        "Mon, Tue, Wed, Thu, Fri 09:00–18:00 (UTC)",
    ):  # fmt: skip
        assert fact in page, fact


async def test_the_policy_page_names_the_file_in_use(sessions, tmp_path):
    path = tmp_path / "our-policy.toml"
    path.write_text(
        DEFAULT_POLICY.read_text()
        .replace("cadence_days = 4", "cadence_days = 1")
        .replace("[late_fees]\nenabled = false", "[late_fees]\nenabled = true")
    )
    await add_staff(sessions, "grace", "admin", now=T0)
    app = _app(sessions, Clock(), policy=load_policy(path), policy_file=path)
    async with TestClient(TestServer(app)) as client:
        await _sign_in(client, "grace")
        _, _, page = await _get(client, "/console/policy")
    assert f"From the file <code>{path}</code>" in page
    assert "every 1 day<" in page
    assert "1‰ of the overdue amount a day, at most 10%" in page
