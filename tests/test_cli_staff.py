"""``nudgebot staff`` as an admin runs it: accounts added, listed, disabled, given a password."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.db.engine import create_engine, session_factory
from bot.db.models import AuditEvent, StaffUser
from bot.policy import load_policy
from bot.staff.sessions import create_session, find_session
from bot.staff.signin import Refused, authenticate

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _on_db(url: str, work):
    """Run ``work(session)`` in one committed transaction of the test database."""

    async def go():
        engine = create_engine(url)
        try:
            async with session_factory(engine).begin() as s:
                return await work(s)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Answer getpass's prompts in turn; the prompts shown."""
    prompts, replies = [], iter(answers)

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr("getpass.getpass", getpass)
    return prompts


def _add(monkeypatch, username: str, *options: str, password: str = PASSWORD) -> int:
    _stdin(monkeypatch, password + "\n")
    return main(["staff", "add", username, *options, "--password-stdin"])


def _signs_in(url: str, username: str, password: str) -> bool:
    async def work(s):
        outcome = await authenticate(s, username, password, T0, load_policy())
        return not isinstance(outcome, Refused)

    return _on_db(url, work)


def test_add_from_stdin_then_sign_in(cli_env, monkeypatch, capsys):
    assert _add(monkeypatch, "admin", "--role", "admin", "--name", "Ada Admin") == 0
    assert capsys.readouterr().out == "staff: added admin (admin), shown as 'Ada Admin'\n"
    stored = _on_db(cli_env, lambda s: s.scalar(select(StaffUser.password_hash)))
    assert stored.startswith("$argon2id$")
    assert _signs_in(cli_env, "admin", PASSWORD)
    assert _on_db(cli_env, lambda s: s.scalar(select(AuditEvent.actor))) == "cli"


def test_add_asks_twice_without_echo(cli_env, monkeypatch, capsys):
    prompts = _typed(monkeypatch, PASSWORD, PASSWORD)
    assert main(["staff", "add", "alice", "--role", "agent"]) == 0
    assert prompts == ["Password (at least 10 characters): ", "The same password again: "]
    assert _signs_in(cli_env, "alice", PASSWORD)


@pytest.mark.parametrize(
    ("username", "typed", "error"),
    [
        (
            "alice",
            (PASSWORD, "correct horse batterx"),
            "the two passwords differ; nothing was changed",
        ),
        ("alice", ("too short",), "the password must be at least 10 characters long"),
        (
            "Bad Name!",
            (),
            "username 'Bad Name!' must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_adds_nothing(
    cli_env, monkeypatch, capsys, username, typed, error
):
    _typed(monkeypatch, *typed)
    assert main(["staff", "add", username, "--role", "agent"]) == 2
    assert capsys.readouterr() == ("", f"nudgebot: {error}\n")
    assert _on_db(cli_env, lambda s: s.scalar(select(StaffUser.id))) is None


def test_a_taken_username_is_refused_before_any_password_is_asked(cli_env, monkeypatch, capsys):
    assert _add(monkeypatch, "alice", "--role", "agent") == 0
    prompts = _typed(monkeypatch)
    assert main(["staff", "add", "ALICE", "--role", "admin"]) == 2
    assert prompts == []
    assert capsys.readouterr().err == "nudgebot: username 'alice' is taken\n"


def test_an_empty_stdin_is_refused(cli_env, monkeypatch, capsys):
    assert _add(monkeypatch, "alice", "--role", "agent", password="") == 2
    assert (
        capsys.readouterr().err == "nudgebot: the password must be at least 10 characters long\n"
    )
    _stdin(monkeypatch, "")
    assert main(["staff", "add", "alice", "--role", "agent", "--password-stdin"]) == 2
    assert capsys.readouterr().err == "nudgebot: --password-stdin: standard input is empty\n"


def test_list_prints_an_aligned_table(cli_env, monkeypatch, capsys):
    _add(monkeypatch, "zoe", "--role", "agent", "--name", "Zoé Zhang")
    _add(monkeypatch, "admin", "--role", "admin")
    _add(monkeypatch, "bob", "--role", "agent")
    main(["staff", "disable", "bob"])
    _signs_in(cli_env, "zoe", PASSWORD)
    capsys.readouterr()
    assert main(["staff", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "username  name       role   status    last sign-in (UTC)",
        "admin     admin      admin  active    never",
        "bob       bob        agent  disabled  never",
        "zoe       Zoé Zhang  agent  active    2026-11-02 09:00",
        "3 staff account(s)",
    ]


def test_list_of_nobody(cli_env, capsys):
    assert main(["staff", "list"]) == 0
    assert capsys.readouterr().out == "0 staff account(s)\n"


def test_disable_signs_out_and_stops_sign_in(cli_env, monkeypatch, capsys):
    _add(monkeypatch, "alice", "--role", "agent")
    staff_id = _on_db(cli_env, lambda s: s.scalar(select(StaffUser.id)))
    token, _ = _on_db(cli_env, lambda s: create_session(s, staff_id, now=T0))
    capsys.readouterr()
    assert main(["staff", "disable", "alice"]) == 0
    assert capsys.readouterr().out == "staff: disabled alice; 1 session(s) signed out\n"
    assert _on_db(cli_env, lambda s: find_session(s, token, now=T0, policy=load_policy())) is None
    assert not _signs_in(cli_env, "alice", PASSWORD)
    assert main(["staff", "disable", "alice"]) == 2
    assert main(["staff", "disable", "nobody"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "nudgebot: 'alice' is disabled already",
        "nudgebot: no staff member is called 'nobody'",
    ]


def test_enable_lets_a_disabled_account_sign_in_again(cli_env, monkeypatch, capsys):
    _add(monkeypatch, "alice", "--role", "agent")
    assert main(["staff", "disable", "alice"]) == 0
    capsys.readouterr()
    assert main(["staff", "enable", "alice"]) == 0
    assert capsys.readouterr().out == "staff: enabled alice\n"
    assert _signs_in(cli_env, "alice", PASSWORD)
    assert main(["staff", "enable", "alice"]) == 2
    assert capsys.readouterr().err == "nudgebot: 'alice' is not disabled\n"


def test_the_only_active_admin_cannot_be_disabled(cli_env, monkeypatch, capsys):
    _add(monkeypatch, "root", "--role", "admin")
    capsys.readouterr()
    assert main(["staff", "disable", "root"]) == 2
    assert capsys.readouterr().err == (
        "nudgebot: 'root' is the only active admin; add or enable another admin first\n"
    )
    _add(monkeypatch, "second", "--role", "admin")
    assert main(["staff", "disable", "root"]) == 0
    assert _signs_in(cli_env, "second", PASSWORD)


def test_password_replaces_the_old_one(cli_env, monkeypatch, capsys):
    _add(monkeypatch, "alice", "--role", "agent")
    capsys.readouterr()
    _stdin(monkeypatch, "a brand new password\r\n")
    assert main(["staff", "password", "alice", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "staff: new password for alice; 0 session(s) signed out\n"
    assert not _signs_in(cli_env, "alice", PASSWORD)
    assert _signs_in(cli_env, "alice", "a brand new password")


def test_password_of_an_unknown_user_asks_nothing(cli_env, monkeypatch, capsys):
    prompts = _typed(monkeypatch)
    assert main(["staff", "password", "nobody"]) == 2
    assert prompts == []
    assert capsys.readouterr().err == "nudgebot: no staff member is called 'nobody'\n"
