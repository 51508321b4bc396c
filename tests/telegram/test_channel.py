"""The Telegram channel under Telegram's rules: secret webhooks, blocks, flood limits, links."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys

import aiohttp
import pytest
from sqlalchemy import select, text

from bot.app import running
from bot.channel import ChannelUnreachable, OutMessage
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.cli import main
from bot.db.engine import is_sqlite
from bot.db.models import ChannelLink, ContactLog, DialogueState
from bot.sandbox import RateLimits
from tests.telegram.conftest import ALICE, BOT, TOKEN, WANG, World, bot_settings, seed
from tests.telegram.test_promise import verify


async def _verify_alice(world: World) -> None:
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    await world.texts(ALICE, 3)


@pytest.mark.parametrize("world", ["webhook"], indirect=True)
@pytest.mark.parametrize("header", [None, "wrong-secret"])
async def test_webhook_without_the_right_secret_is_refused(world: World, header):
    update = {
        "update_id": 99,
        "message": {
            "message_id": 1, "date": 0, "chat": {"id": 8001, "type": "private"},
            "from": {"id": 8001, "is_bot": False, "first_name": "Eve"}, "text": "/start",
        },
    }  # fmt: skip
    headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
    async with aiohttp.ClientSession() as http:
        async with http.post(world.settings.webhook_url, json=update, headers=headers) as resp:
            assert resp.status == 403
        await asyncio.sleep(0.3)
        right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_for-tests"}
        async with http.post(world.settings.webhook_url, data="{oops", headers=right) as resp:
            assert resp.status == 400
    async with world.sessions() as s:
        assert (await s.execute(select(ContactLog))).first() is None


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_block_marks_the_chat_unreachable_and_is_never_retried(world: World):
    await _verify_alice(world)
    world.sandbox.block(BOT, ALICE)
    sender = world.process.telegram.bot_data["services"].sender
    before = world.sandbox.stats(BOT)["requests"].get("sendmessage", 0)

    with pytest.raises(ChannelUnreachable):
        await sender.send(ALICE["id"], OutMessage("A reminder", kind="reminder"))

    assert world.sandbox.stats(BOT)["requests"]["sendmessage"] == before + 1
    async with world.sessions() as s:
        link = (await s.execute(select(ChannelLink))).scalar_one()
        failed = (
            await s.execute(
                select(ContactLog.status, ContactLog.error).where(ContactLog.kind == "reminder")
            )
        ).one()
    assert link.unreachable_at is not None
    assert link.unreachable_reason == "Forbidden: bot was blocked by the user"
    assert failed == ("failed", "forbidden: Forbidden: bot was blocked by the user")

    world.sandbox.unblock(BOT, ALICE)
    await world.say(ALICE, "hello again", expect=4)
    async with world.sessions() as s:
        assert (await s.execute(select(ChannelLink))).scalar_one().unreachable_at is None


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_database_restart_costs_the_debtor_nothing(world: World, database_url):
    if is_sqlite(database_url):
        pytest.skip("a PostgreSQL server restart; SQLite has no connections to lose")
    await _verify_alice(world)
    await _recorded(world, 3)
    # Cut every connection the bot holds, as a restart of the server does.
    async with world.sessions.begin() as s:
        cut = await s.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        assert cut.scalar_one() >= 1
    # The test's own pool lost its other connections too; only the bot's recovery is tested.
    await world.sessions.kw["bind"].dispose()

    texts = await world.say(ALICE, "/balance", expect=4)
    assert "ACC-1001" in texts[-1]
    logged = await _recorded(world, 4)
    assert logged[-2] == ("in", "/balance") and "ACC-1001" in logged[-1].text


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_failure_gets_an_apology_and_logs_nothing_the_debtor_wrote(
    world: World, caplog: pytest.LogCaptureFixture
):
    await _verify_alice(world)
    await _recorded(world, 3)
    # The contact log cannot be written (as with a broken migration): the turn fails.
    async with world.sessions.begin() as s:
        await s.execute(text("ALTER TABLE contact_log RENAME TO contact_log_away"))
    try:
        texts = await world.say(ALICE, "my secret is 4242 and I lost my job", expect=4)
    finally:
        async with world.sessions.begin() as s:
            await s.execute(text("ALTER TABLE contact_log_away RENAME TO contact_log"))
    assert texts[-1] == (
        "Sorry, something went wrong on our side and your message was not handled. Please try"
        " again in a minute."
    )
    assert "an update could not be handled" in caplog.text
    assert "4242" not in caplog.text and "lost my job" not in caplog.text

    texts = await world.say(ALICE, "/balance", expect=5)  # and the next message is answered
    assert "ACC-1001" in texts[-1]


async def _recorded(world: World, sent: int) -> list:
    """The contact log once it holds ``sent`` messages out (each is recorded just after
    Telegram accepts it)."""
    for _ in range(50):
        async with world.sessions() as s:
            logged = (
                await s.execute(
                    select(ContactLog.direction, ContactLog.text).order_by(ContactLog.id)
                )
            ).all()
        if [row.direction for row in logged].count("out") == sent:
            return logged
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sent} messages out were not recorded: {logged}")


async def test_a_429_is_honoured_nothing_lost_nothing_doubled(
    sandbox, sessions, database_url, tmp_path
):
    sandbox.set_rate_limits(RateLimits(chat_per_second=1.0, chat_burst=1.0))
    tokens = await seed(sessions, tmp_path)
    eager = ChatRateLimiter(global_rate=1000, per_chat_rate=1000)  # lets the server say 429
    async with running(
        bot_settings(database_url, sandbox), rate_limiter=eager, reminders=False
    ) as process:
        world = World(
            sandbox, process, sessions, tokens, process and bot_settings(database_url, sandbox)
        )
        await _verify_alice(world)

        texts = [m["text"] for m in sandbox.bot_messages(BOT, ALICE["id"])]
        await asyncio.sleep(1.5)  # nothing more may arrive late
        assert [m["text"] for m in sandbox.bot_messages(BOT, ALICE["id"])] == texts
    assert len(texts) == 3 == len(set(texts))
    assert sandbox.stats(BOT)["too_many_requests"] >= 1
    assert eager.retry_after_count == sandbox.stats(BOT)["too_many_requests"]
    async with sessions() as s:
        statuses = (
            (await s.execute(select(ContactLog.status).where(ContactLog.direction == "out")))
            .scalars()
            .all()
        )
    assert statuses == ["sent", "sent", "sent"]


async def test_our_limiter_stays_under_telegrams_limits(sandbox):
    from telegram import Bot

    limiter = ChatRateLimiter()
    for user_id in range(9000, 9040):
        sandbox.send_text(BOT, {"id": user_id, "first_name": "U"}, "/start")
    bot = Bot(TOKEN, base_url=sandbox.api_url)
    from telegram.ext import ExtBot

    bot = ExtBot(TOKEN, base_url=sandbox.api_url, rate_limiter=limiter)
    async with bot:
        sends = [bot.send_message(9000, f"burst {i}") for i in range(4)]
        sends += [bot.send_message(uid, "hello") for uid in range(9001, 9040)]
        await asyncio.gather(*sends)
    stats = sandbox.stats(BOT)
    assert stats["too_many_requests"] == 0
    assert sandbox.bot_texts(BOT, 9000) == [f"burst {i}" for i in range(4)]
    assert stats["sent"] == 43


async def test_links_export_issues_rotates_and_reports(
    sandbox, cli_env, tmp_path, monkeypatch, capsys
):
    from tests.helpers import write_csv
    from tests.telegram.conftest import PORTFOLIO

    monkeypatch.setenv("NUDGEBOT_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("NUDGEBOT_TELEGRAM_API_URL", sandbox.base_url)
    portfolio = str(write_csv(tmp_path / "p.csv", PORTFOLIO))
    assert await asyncio.to_thread(main, ["import", "accounts", portfolio]) == 0
    first, second, rotated = tmp_path / "1.csv", tmp_path / "2.csv", tmp_path / "3.csv"

    # The CLI runs its own event loop, so it goes to a thread while the sandbox serves here.
    assert await asyncio.to_thread(main, ["links", "export", str(first)]) == 0
    assert await asyncio.to_thread(main, ["links", "export", str(second)]) == 0
    assert await asyncio.to_thread(main, ["links", "export", str(rotated), "--rotate"]) == 0

    rows = list(csv.DictReader(first.open()))
    assert [(r["account_ref"], r["debtor_ref"]) for r in rows] == [
        ("ACC-1001", "D-001"), ("ACC-1002", "D-001"), ("ACC-2001", "D-002"), ("ACC-3001", "D-003"),
    ]  # fmt: skip
    links = {r["debtor_ref"]: r["link"] for r in rows}
    assert all(link.startswith(f"https://t.me/{BOT}?start=") for link in links.values())
    token = links["D-001"].split("=", 1)[1]
    assert len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()
    assert rows[0]["link"] == rows[1]["link"]
    assert list(csv.DictReader(second.open())) == []
    renewed = {r["debtor_ref"]: r["link"] for r in csv.DictReader(rotated.open())}
    assert set(renewed) == set(links) and not set(renewed.values()) & set(links.values())
    out = capsys.readouterr().out.splitlines()
    assert out[-4:] == [
        "links: 3 debtor(s) got a new link in " + str(first),
        "links: 0 debtor(s) got a new link in " + str(second),
        "links: 3 debtor(s) already hold a live link or a verified chat and were left alone"
        " (--rotate replaces every link)",
        "links: 3 debtor(s) got a new link in " + str(rotated),
    ]


async def test_run_stops_gracefully_on_sigterm(sandbox, database_url, tmp_path):
    env = {
        **os.environ,
        "NUDGEBOT_DATABASE_URL": database_url,
        "NUDGEBOT_BOT_TOKEN": TOKEN,
        "NUDGEBOT_TELEGRAM_API_URL": sandbox.base_url,
        "NUDGEBOT_WEB_PORT": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line.decode().startswith("nudgebot is running; web server on http://127.0.0.1:")
    sandbox.send_text(BOT, {"id": 8100, "first_name": "Zed"}, "/start")
    await sandbox.wait_for_bot_messages(BOT, 8100, 1, within=10)

    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.decode() == "nudgebot: stopping, finishing work in progress…\n"
    assert TOKEN.split(":")[1] not in err.decode()


async def test_a_crash_while_polling_loses_no_update(sandbox, sessions, database_url, tmp_path):
    tokens = await seed(sessions, tmp_path)
    env = {
        **os.environ, "NUDGEBOT_DATABASE_URL": database_url, "NUDGEBOT_BOT_TOKEN": TOKEN,
        "NUDGEBOT_TELEGRAM_API_URL": sandbox.base_url, "NUDGEBOT_WEB_PORT": "0",
    }  # fmt: skip

    async def start() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).startswith(b"nudgebot is")
        return proc

    first = await start()
    sandbox.send_text(BOT, ALICE, f"/start {tokens['D-001']}")
    await sandbox.wait_for_bot_messages(BOT, ALICE["id"], 1, within=10)
    sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    await sandbox.wait_for_bot_messages(BOT, ALICE["id"], 3, within=10)

    # Alice's next update is fetched, but its turn waits on a lock this test holds ...
    async with sessions.begin() as s:
        await s.execute(
            select(DialogueState).where(DialogueState.chat_id == ALICE["id"]).with_for_update()
        )
        sandbox.send_text(BOT, ALICE, "/balance")
        await asyncio.sleep(1.5)
        # ... and Telegram still holds it: nothing confirms an update before it is handled.
        assert [u["message"]["text"] for u in sandbox.bot(BOT).updates] == ["/balance"]
        first.kill()  # the process dies while handling it
        await first.wait()

    second = await start()
    try:
        messages = await sandbox.wait_for_bot_messages(BOT, ALICE["id"], 4, within=15)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.communicate(), 30)
    assert "ACC-1001" in messages[-1]["text"]
    async with sessions() as s:
        heard = await s.execute(select(ContactLog.text).where(ContactLog.direction == "in"))
    assert [t for t in heard.scalars() if t == "/balance"] == ["/balance"]


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_slow_answer_to_one_chat_holds_back_no_other_chat(world: World):
    await verify(world, ALICE, "D-001", "1001")
    await verify(world, WANG, "D-002", "2001")
    # Telegram takes 3 s to accept Alice's next message (as a 429 wait would).
    world.sandbox.inject_slow(BOT, 3.0, count=1, chat_id=ALICE["id"], methods=["sendMessage"])
    world.sandbox.send_text(BOT, ALICE, "/balance")
    await asyncio.sleep(0.5)  # her turn is done; its answer is on its way
    world.sandbox.send_text(BOT, WANG, "/balance")
    started = asyncio.get_running_loop().time()
    await world.texts(WANG, 4)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 3  # still on its way
    assert "ACC-1001" in (await world.texts(ALICE, 4))[-1]


async def test_a_taken_port_is_one_clear_line(sandbox, database_url, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "NUDGEBOT_DATABASE_URL": database_url,
            "NUDGEBOT_BOT_TOKEN": TOKEN,
            "NUDGEBOT_TELEGRAM_API_URL": sandbox.base_url,
            "NUDGEBOT_WEB_PORT": str(port),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().splitlines()[-1] == (
        f"nudgebot: cannot listen on 127.0.0.1:{port} (address already in use);"
        " set NUDGEBOT_WEB_PORT to a free port"
    )
