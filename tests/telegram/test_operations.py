"""What operations look at: /metrics in Prometheus's format after real turns and sends,
/healthz with the database, /livez for the process alone, and logs as JSON lines."""

from __future__ import annotations

import json
import logging
import re
import sys

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.cli import JsonLines
from bot.db.engine import create_engine, session_factory
from bot.settings import Settings
from bot.web.app import make_web_app
from tests.telegram.conftest import ALICE, World


def _value(text: str, name: str, **labels: str) -> float:
    """One sample's value from the text format."""
    inside = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + inside + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"no {name} {labels} in /metrics"
    return float(found.group(1))


async def test_metrics_count_turns_and_sends_and_read_the_queues(world: World) -> None:
    await world.say(ALICE, "hello", expect=1)
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=2)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{world.process.web_url}/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
        async with http.get(f"{world.process.web_url}/healthz") as response:
            assert (response.status, await response.json()) == (
                200, {"ok": True, "database": "ok"},
            )  # fmt: skip
        async with http.get(f"{world.process.web_url}/livez") as response:
            assert response.status == 200

    assert _value(text, "nudgebot_updates_total", channel="telegram") == 2
    assert _value(text, "nudgebot_turns_total", outcome="answered") == 2
    assert _value(text, "nudgebot_messages_sent_total", kind="reply", outcome="sent") == 2
    assert _value(text, "nudgebot_turn_seconds_count") == 2
    assert _value(text, "nudgebot_send_seconds_count") == 2
    assert _value(text, "nudgebot_live_workers") == 1
    assert _value(text, "nudgebot_outbox_rows", state="due") == 0
    assert _value(text, "nudgebot_pending_replies", state="pending") == 0
    assert _value(text, "nudgebot_tickets", status="open") == 0
    # Nothing about a person: no chat id, no name, no text.
    assert str(ALICE["id"]) not in text and "Alice" not in text


async def test_healthz_says_503_while_the_database_is_away_and_livez_still_answers():
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = make_web_app(Settings(metrics_token="t0ken"), session_factory(engine))
    async with TestClient(TestServer(app)) as client:
        health = await client.get("/healthz")
        assert health.status == 503
        assert (await health.json())["ok"] is False
        assert (await client.get("/livez")).status == 200
        # A metrics token, once set, is asked for; the counters come even without a database.
        assert (await client.get("/metrics")).status == 401
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer t0ken"})
        assert scraped.status == 200
        assert "nudgebot_turns_total" in await scraped.text()
    await engine.dispose()


def test_json_lines_carry_level_logger_message_and_the_errors_type():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("bot.x").makeRecord(
            "bot.x", logging.ERROR, __file__, 1, "turn %s failed", (7,), sys.exc_info()
        )
    line = JsonLines().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert (entry["level"], entry["logger"], entry["message"], entry["error"]) == (
        "error", "bot.x", "turn 7 failed", "ValueError",
    )  # fmt: skip
    assert entry["time"].endswith("+00:00") and "Traceback" in entry["traceback"]
