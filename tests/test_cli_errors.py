"""Every mistake a person can make with the command line gets one clear line, not a traceback:
the real ``nudgebot`` in a subprocess, as someone at a terminal runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNREACHABLE_API = "http://nohost.invalid"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer: no NUDGEBOT_ settings but a fresh SQLite file."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUDGEBOT_")}
    return {**clean, "NUDGEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/n.db", **extra}


def nudgebot(tmp_path: Path, *args: str, **extra: str) -> tuple[int, list[str]]:
    """Run the command; its exit status and what it printed, line by line."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env(tmp_path, **extra), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, (done.stdout + done.stderr).splitlines()


def one_line(lines: list[str], *expected: str) -> str:
    """The single line printed (log lines of migrations aside), holding every ``expected``."""
    said = [line for line in lines if "alembic" not in line]
    assert len(said) <= 2 and not any("Traceback" in line for line in lines), lines
    for part in expected:
        assert part in said[-1], (part, said)
    return said[-1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:1/test", "127.0.0.1:1: connection refused"),
        ("postgresql+asyncpg://postgres@nohost.invalid/test", "no host called 'nohost.invalid'"),
        ("sqlite+aiosqlite:////nonexistent/folder/n.db", "the folder /nonexistent/folder does"),
    ],
)
@pytest.mark.parametrize("command", [["tickets", "list"], ["db", "upgrade"], ["staff", "list"]])
def test_a_database_that_cannot_be_opened_is_one_line(tmp_path, url, expected, command):
    status, lines = nudgebot(tmp_path, *command, NUDGEBOT_DATABASE_URL=url)
    assert status == 2
    one_line(lines, "nudgebot: ", expected, "NUDGEBOT_DATABASE_URL")


def test_reminders_without_a_route_to_telegram_send_nothing_and_say_why(tmp_path):
    status, lines = nudgebot(
        tmp_path, "remind", "--at", "2026-11-30T17:00:00+00:00",
        NUDGEBOT_BOT_TOKEN="123:abc", NUDGEBOT_TELEGRAM_API_URL=UNREACHABLE_API,
    )  # fmt: skip
    assert status == 2
    line = one_line(lines, f"cannot reach the Bot API at {UNREACHABLE_API}", "check the network")
    assert "123:abc" not in line


def test_run_without_a_route_to_telegram_keeps_trying_and_stops_on_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, text=True,
        env=env(tmp_path, NUDGEBOT_BOT_TOKEN="123:abc", NUDGEBOT_TELEGRAM_API_URL=UNREACHABLE_API,
                NUDGEBOT_WEB_PORT="0"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    tries: list[str] = []
    deadline = time.monotonic() + 60
    while len(tries) < 2 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if "cannot reach the Bot API" in line:
            tries.append(line)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert [t.split("; trying again in ")[1].strip() for t in tries] == ["2 s", "4 s"]
    assert rest.strip().splitlines()[-1] == "nudgebot: stopped before Telegram answered"
    assert "Traceback" not in rest and "Unclosed" not in rest and "123:abc" not in rest


def test_importing_a_folder_or_binary_data_says_what_it_is(tmp_path):
    status, lines = nudgebot(tmp_path, "import", "accounts", str(tmp_path))
    assert status == 2
    one_line(lines, f"{tmp_path} is a folder; give the path of a CSV file")
    binary = tmp_path / "export.xlsx.csv"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)) * 8)
    status, lines = nudgebot(tmp_path, "import", "accounts", str(binary))
    assert status == 2
    one_line(lines, "this is not a CSV file but binary data", "nothing was imported")


def test_a_wrong_ticket_status_lists_the_statuses_as_words(tmp_path):
    status, lines = nudgebot(tmp_path, "tickets", "list", "--status", "closed")
    assert status == 2
    one_line(lines, "(choose from 'open', 'claimed', 'resolved', 'all')")


def test_help_says_what_each_command_does_now(tmp_path):
    status, lines = nudgebot(tmp_path, "--help")
    text = "\n".join(lines)
    assert status == 0 and "(later)" not in text and "``" not in text
    assert "running the bot or its offline sandbox" in text


def test_the_sandbox_speaks_for_a_sample_creditor_and_says_how_to_send_reminders(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0",
         "--database-url", f"sqlite+aiosqlite:///{tmp_path}/sandbox.db"],
        cwd=tmp_path, text=True, env=env(tmp_path, NUDGEBOT_WEB_PORT="0"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        printed: list[str] = []
        while not printed or printed[-1] != "Ctrl+C stops.":
            printed.append(process.stdout.readline().strip())
            assert len(printed) < 50 and process.poll() is None, printed
        command = printed[printed.index(next(p for p in printed if "reminders due" in p)) + 1]
        assert "NUDGEBOT_CREDITOR_NAME='Acme Lending'" in command
        # What the sandbox prints runs as printed, offline.
        done = subprocess.run(
            command.replace(" nudgebot ", f" {sys.executable} -m bot "), shell=True,
            cwd=tmp_path, env=env(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("remind at ")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_a_big_file_is_checked_by_worker_processes_and_lands_whole(tmp_path):
    from bot.accounts.importer import PARALLEL_FROM_BYTES

    rows = 42_000
    path = tmp_path / "book.csv"
    with path.open("w") as out:
        out.write(
            "account_ref,debtor_ref,full_name,phone,locale,timezone,currency,amount_due,due_date\n"
        )
        for n in range(rows):
            debtor = n // 2
            out.write(
                f"ACC-{n:06},D-{debtor:06},Debtor Number {debtor},+1 212 555 {debtor % 10000:04},"
                f"en_US,America/New_York,USD,{n % 900 + 10}.25,2026-11-{n % 28 + 1:02}\n"
            )
        out.write("ACC-BAD,D-BAD,Someone,+1 212 555 0100,en,UTC,USD,-3,2026-11-01\n")
    assert path.stat().st_size >= PARALLEL_FROM_BYTES  # so the import starts workers

    status, lines = nudgebot(tmp_path, "import", "accounts", str(path))

    assert status == 1, lines
    assert lines[-2:] == [
        f"accounts: {rows} new, 0 updated, 0 unchanged, 1 row with errors",
        f"  line {rows + 2}, column amount_due: -3 must be greater than zero",
    ]
