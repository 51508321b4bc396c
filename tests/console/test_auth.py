"""Signing in to the console through a real aiohttp server: sessions, CSRF, roles, redirects."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import aiohttp_jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.db.models import AuditEvent, StaffSession
from bot.policy import Policy, load_policy
from bot.settings import load_settings
from bot.staff.accounts import disable_staff
from bot.web.app import make_web_app
from bot.web.console import Console, make_console_app
from bot.web.console.auth import require_role, safe_next, signed, staff_actor
from tests.helpers import add_staff

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
PAGE = {"Accept": "text/html,application/xhtml+xml"}
WRONG = "Wrong username or password."
EXPIRED = "This form has expired; reload the page and try again"


class Clock:
    """The console's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def probe(request: web.Request) -> web.Response:
    """A page of the test's own, to see what the middleware lets through."""
    staff = signed(request)
    return web.Response(
        text=f"{request.method} {staff.username} {staff.role} {staff_actor(staff)}"
    )


async def page(request: web.Request) -> web.Response:
    """A page of the test's own in the console's layout."""
    return aiohttp_jinja2.render_template("error.html", request, {"title": "Probe", "message": ""})


@require_role("admin")
async def admin_probe(request: web.Request) -> web.Response:
    """An admin-only page of the test's own."""
    return web.Response(text="admins only")


def _app(
    sessions, clock: Clock, policy: Policy | None = None, **settings: object
) -> web.Application:
    console = make_console_app(
        Console(sessions, load_settings(**settings), policy or load_policy(), clock, senders={})
    )
    console.router.add_route("*", "/probe", probe)
    console.router.add_get("/admin", admin_probe)
    console.router.add_get("/page", page)
    app = web.Application()
    app.add_subapp("/console", console)
    return app


@pytest.fixture
def clock() -> Clock:
    """A clock standing at T0."""
    return Clock()


@pytest.fixture
async def client(sessions, clock) -> AsyncIterator[TestClient]:
    """A browser-like client (with a cookie jar) of a real server running the console."""
    alice = await add_staff(sessions, "alice", "agent", name="Alice Agent", now=T0)
    await add_staff(sessions, "ada", "admin", name="Ada Admin", now=T0)
    async with TestClient(TestServer(_app(sessions, clock))) as client:
        client.alice = f"staff:{alice}"
        yield client


async def _login_form(client: TestClient, path: str = "/console/login") -> tuple[str, str]:
    async with client.get(path, headers=PAGE) as response:
        assert response.status == 200
        html = await response.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    target = re.search(r'name="next" value="([^"]*)"', html)
    return csrf.group(1), target.group(1)


async def _sign_in(
    client: TestClient, username: str, password: str = PASSWORD, next_: str | None = None
) -> tuple[int, str, str]:
    """Fill in the login form as a browser would: status, Location and the page's text."""
    csrf, target = await _login_form(client)
    form = {"csrf": csrf, "username": username, "password": password, "next": next_ or target}
    async with client.post("/console/login", data=form, allow_redirects=False) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


async def _get(client: TestClient, path: str, headers=PAGE) -> tuple[int, str, str]:
    async with client.get(path, headers=headers, allow_redirects=False) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


async def _csrf(client: TestClient) -> str:
    """The session's CSRF token, as the layout gives it to every page (and its sign-out form)."""
    status, _, html = await _get(client, "/console/page")
    assert status == 200
    meta = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    assert f'name="csrf" value="{meta}"' in html
    return meta


async def test_the_right_password_signs_in_and_pages_answer(client):
    assert await _sign_in(client, "alice") == (303, "/console/", "")
    assert await _get(client, "/console/probe") == (200, "", f"GET alice agent {client.alice}")


async def test_wrong_and_unknown_say_the_same_polite_thing(client):
    for username in ("alice", "mallory"):
        status, _, html = await _sign_in(client, username, "not the password")
        assert status == 401
        assert WRONG in html
        assert f'value="{username}"' in html
        assert "locked" not in html and "disabled" not in html
    assert (await _get(client, "/console/probe"))[0] == 302


async def test_five_failures_lock_and_the_page_says_until_when(client, clock):
    pages = [(await _sign_in(client, "alice", "not the password"))[2] for _ in range(5)]
    assert all(WRONG in page for page in pages[:4])
    locked = "locked after too many failed sign-ins. Try again in 15 minutes (after 09:15 UTC)."
    assert locked in pages[4]
    clock.now = T0 + timedelta(minutes=10)
    status, _, page = await _sign_in(client, "alice")
    assert status == 401
    assert "Try again in 5 minutes (after 09:15 UTC)." in page
    clock.now = T0 + timedelta(minutes=15)
    assert (await _sign_in(client, "alice"))[:2] == (303, "/console/")


async def test_a_disabled_account_is_signed_out_and_cannot_sign_in(client, sessions):
    await _sign_in(client, "alice")
    async with sessions.begin() as s:
        await disable_staff(s, "alice", now=T0, actor="test")
    assert (await _get(client, "/console/probe"))[0] == 302
    status, _, page = await _sign_in(client, "alice")
    assert status == 401
    assert "This account is disabled. Ask an admin if you need it again." in page


async def test_an_idle_session_ends(client, clock):
    await _sign_in(client, "alice")
    for minutes in (59, 118):
        clock.now = T0 + timedelta(minutes=minutes)
        assert (await _get(client, "/console/probe"))[0] == 200
    clock.now = T0 + timedelta(minutes=118 + 61)
    assert (await _get(client, "/console/probe?tab=2"))[:2] == (
        302, "/console/login?next=/console/probe?tab%3D2"
    )  # fmt: skip


async def test_logout_revokes_the_session(client, sessions):
    await _sign_in(client, "alice")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/console/"))[
        "nudgebot_session"
    ].value
    csrf = await _csrf(client)
    async with client.post(
        "/console/logout", data={"csrf": csrf}, allow_redirects=False
    ) as response:
        assert (response.status, response.headers["Location"]) == (303, "/console/login")
    async with sessions() as s:
        assert (await s.execute(select(StaffSession.revoked_at))).scalar_one() == T0
    # The old cookie, sent again by hand, opens nothing.
    client.session.cookie_jar.clear()
    headers = {**PAGE, "Cookie": f"nudgebot_session={token}"}
    assert (await _get(client, "/console/probe", headers))[0] == 302


async def test_a_change_without_the_csrf_token_is_refused(client):
    await _sign_in(client, "alice")
    csrf = await _csrf(client)
    for data, headers in (({}, {}), ({"csrf": "forged"}, {}), ({}, {"X-CSRF-Token": csrf[:-1]})):
        async with client.post("/console/probe", data=data, headers=headers) as response:
            assert response.status == 403
            assert EXPIRED in await response.text()
    async with client.post("/console/probe", data={"csrf": csrf}) as response:
        answered = (response.status, await response.text())
    assert answered == (200, f"POST alice agent {client.alice}")
    async with client.post("/console/probe", json={}, headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 200


async def test_the_login_form_needs_its_own_token_too(client):
    csrf, _ = await _login_form(client)
    form = {"username": "alice", "password": PASSWORD}
    for sent in ({}, {"csrf": "forged"}):
        async with client.post("/console/login", data={**form, **sent}) as response:
            assert response.status == 403
            assert EXPIRED in await response.text()
    # A form posted from another page, without the cookie the login page set.
    client.session.cookie_jar.clear()
    async with client.post("/console/login", data={**form, "csrf": csrf}) as response:
        assert response.status == 403
    assert (await _get(client, "/console/probe"))[0] == 302


async def test_an_agent_gets_403_on_an_admin_page_and_an_admin_gets_in(client, sessions):
    await _sign_in(client, "alice")
    status, _, page = await _get(client, "/console/admin")
    assert status == 403
    assert "This page is for admins only." in page
    assert "Alice Agent" in page
    client.session.cookie_jar.clear()
    await _sign_in(client, "ada")
    assert await _get(client, "/console/admin") == (200, "", "admins only")


async def test_without_a_session_pages_go_to_sign_in_and_the_rest_get_401(client):
    assert (await _get(client, "/console/probe?x=1"))[:2] == (
        302, "/console/login?next=/console/probe?x%3D1"
    )  # fmt: skip
    for headers in ({"Accept": "application/json"}, {**PAGE, "Sec-Fetch-Mode": "cors"}):
        assert (await _get(client, "/console/probe", headers))[0] == 401
    async with client.post("/console/probe", data={"csrf": "x"}) as response:
        assert (response.status, await response.json()) == (
            401, {"error": "not signed in", "login": "/console/login"}
        )  # fmt: skip
    # A form sent from a page left open too long: a page, still 401, saying what happened.
    async with client.post("/console/probe", data={"csrf": "x"}, headers=PAGE) as response:
        assert response.status == 401
        assert "You were signed out, so that was not saved." in await response.text()
    async with client.post("/console/logout", data={}, allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (303, "/console/login")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/console/probe")
    assert refused.value.status == 401
    assert (await _get(client, "/console/static/console.css"))[0] == 200


async def test_sign_in_goes_back_to_the_page_asked_for_and_never_off_site(client):
    _, next_ = await _login_form(client, "/console/login?next=/console/probe%3Fx%3D1")
    assert next_ == "/console/probe?x=1"
    assert (await _sign_in(client, "alice", next_=next_))[:2] == (303, "/console/probe?x=1")
    client.session.cookie_jar.clear()
    _, next_ = await _login_form(client, "/console/login?next=https://evil.example/")
    assert next_ == "/console/"
    assert (await _sign_in(client, "alice", next_="//evil.example/console"))[:2] == (
        303, "/console/"
    )  # fmt: skip
    # Signed in already, the login page sends one on.
    assert (await _get(client, "/console/login?next=/console/probe"))[:2] == (
        302, "/console/probe"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/console/conversation/7?tab=notes", "/console/conversation/7?tab=notes"),
        ("/console", "/console"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/\\evil.example", "/console/"),
        ("/consolewhatever", "/console/"),
        ("/api/payments", "/console/"),
        ("/console/login?next=/console/", "/console/"),
        ("javascript:alert(1)", "/console/"),
        ("/console/\r\nSet-Cookie: x=1", "/console/"),
        (None, "/console/"),
    ],
)
def test_next_stays_inside_the_console(asked, goes):
    assert safe_next(asked) == goes


async def test_cookie_flags(sessions, clock):
    await add_staff(sessions, "alice", "agent", now=T0)
    for secure_setting, secure in ((False, False), (True, True)):
        app = _app(sessions, clock, console_secure_cookies=secure_setting)
        async with TestClient(TestServer(app)) as client:
            async with client.get("/console/login") as response:
                login_cookie = response.headers["Set-Cookie"]
                csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
            form = {"csrf": csrf, "username": "alice", "password": PASSWORD}
            # By hand: the client's jar keeps a Secure cookie from plain http to itself.
            client.session.cookie_jar.clear()
            sent = {"Cookie": login_cookie.split(";")[0]}
            async with client.post(
                "/console/login", data=form, headers=sent, allow_redirects=False
            ) as response:
                assert response.status == 303
                cookies = response.headers.getall("Set-Cookie")
        session_cookie = next(c for c in cookies if c.startswith("nudgebot_session="))
        for cookie, path in ((session_cookie, "/console"), (login_cookie, "/console/login")):
            flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
            assert flags["path"].strip() == f"Path={path}"
            assert flags["samesite"].strip() == "SameSite=Lax"
            assert "httponly" in flags
            assert ("secure" in flags) is secure
        assert "Max-Age" not in session_cookie


async def test_no_password_or_token_reaches_the_logs_or_the_audit(client, sessions, caplog):
    caplog.set_level(logging.DEBUG)
    await _sign_in(client, "alice", "wrong horse battery")
    await _sign_in(client, "mallory", "wrong horse battery")
    await _sign_in(client, "alice")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/console/"))[
        "nudgebot_session"
    ].value
    async with sessions() as s:
        details = " ".join(str(d) for d in (await s.execute(select(AuditEvent.detail))).scalars())
    for secret in ("horse battery", token):
        assert secret not in caplog.text
        assert secret not in details


async def test_make_web_app_mounts_the_console(sessions):
    await add_staff(sessions, "alice", "agent", now=T0)
    app = make_web_app(load_settings(), sessions, clock=Clock(), senders={})
    async with TestClient(TestServer(app)) as client:
        assert (await _get(client, "/console/"))[:2] == (302, "/console/login?next=/console/")
        assert await _sign_in(client, "alice") == (303, "/console/", "")
        assert (await _get(client, "/healthz"))[0] == 200
    async with TestClient(TestServer(make_web_app(load_settings()))) as client:
        assert (await _get(client, "/console/login"))[0] == 404


async def test_an_open_live_page_is_told_when_its_session_ends(client, sessions, monkeypatch):
    from bot.web.console import live

    monkeypatch.setattr(live, "SESSION_CHECK_SECONDS", 0.2)
    await _sign_in(client, "alice")
    async with client.ws_connect("/console/live") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello == {"kind": "hello", "safe": 0}
        csrf = await _csrf(client)
        async with client.post("/console/logout", data={"csrf": csrf}, allow_redirects=False):
            pass
        closed = await ws.receive(timeout=5)
    assert (closed.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1008)
    assert (await _get(client, "/console/live", {"Accept": "application/json"}))[0] == 401
