"""The debtor chat page and its data are served by the sandbox server (no browser needed)."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox import BotApiServer

pytestmark = pytest.mark.timeout(15)

PERSONA: dict[str, Any] = {
    "name": "王小明",
    "debtor_ref": "D-002",
    "phone": "+8613800138000",
    "start": "tok_wang",
    "user": {"id": 10002, "first_name": "小明", "language_code": "zh-hans"},
}


@pytest.fixture
async def http(server: BotApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    """Return an HTTP session rooted at the sandbox."""
    async with aiohttp.ClientSession(base_url=server.base_url) as session:
        yield session


async def test_the_chat_page_links_its_own_assets(http: aiohttp.ClientSession) -> None:
    async with http.get("/sandbox/chat") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        page = await response.text()
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert 'href="static/chat.css"' in page
    assert 'src="static/chat.js"' in page
    assert "http://" not in page
    assert "https://" not in page


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("chat.css", "text/css", ".bubble-out"),
        ("chat.js", "text/javascript", "/sandbox/personas"),
        ("chat.html", "text/html", 'id="composer"'),
    ],
)
async def test_static_assets_are_served(
    http: aiohttp.ClientSession, name: str, content_type: str, marker: str
) -> None:
    async with http.get(f"/sandbox/static/{name}") as response:
        assert response.status == 200
        # Some platforms map .js to application/javascript; both are fine for a browser.
        assert response.content_type in {content_type, "application/javascript"}
        body = await response.text()
    assert marker in body
    assert "https://" not in body.replace("https:", "")


async def test_the_page_never_uses_inner_html(http: aiohttp.ClientSession) -> None:
    async with http.get("/sandbox/static/chat.js") as response:
        script = await response.text()
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script


async def test_unknown_static_files_and_traversal_are_refused(
    http: aiohttp.ClientSession,
) -> None:
    for path in ("/sandbox/static/nope.js", "/sandbox/static/..%2Fcontrol.py"):
        async with http.get(path) as response:
            assert response.status in {403, 404}, path


async def test_personas_default_to_empty(http: aiohttp.ClientSession) -> None:
    async with http.get("/sandbox/personas") as response:
        assert response.status == 200
        assert await response.json() == {"ok": True, "result": []}


async def test_personas_are_returned_as_given() -> None:
    async with (
        BotApiServer(personas=[PERSONA]) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.base_url) as http,
        http.get("/sandbox/personas") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"ok": True, "result": [PERSONA]}
        sandbox.personas = []
        async with http.get("/sandbox/personas") as again:
            assert (await again.json())["result"] == []
