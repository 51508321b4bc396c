"""``nudgebot staff``: console accounts from the command line (add, list, disable, enable,
password)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import migrate
from bot.db.base import utcnow
from bot.db.engine import create_engine, session_factory
from bot.db.models import StaffUser
from bot.settings import Settings
from bot.staff.accounts import (
    MIN_PASSWORD,
    Role,
    StaffError,
    check_password,
    check_username,
    create_staff,
    disable_staff,
    enable_staff,
    find_staff,
    get_staff,
    list_staff,
    set_password,
    status_of,
)

EXIT_OK, EXIT_BAD_INPUT = 0, 2
ACTOR = "cli"
HEADER = ("username", "name", "role", "status", "last sign-in (UTC)")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``staff add|list|disable|enable|password``."""
    staff = commands.add_parser("staff", help="console accounts").add_subparsers(
        dest="staff_command", required=True
    )
    add = staff.add_parser("add", help="add an agent or an admin (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=list(Role), required=True)
    add.add_argument("--name", help="name shown in the console (default: the username)")
    _password_option(add)
    staff.add_parser("list", help="print every account: name, role, status, last sign-in")
    disable = staff.add_parser("disable", help="disable an account and sign out its sessions")
    disable.add_argument("username")
    enable = staff.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("username")
    password = staff.add_parser(
        "password", help="set a new password (lifts a lock, signs out every session)"
    )
    password.add_argument("username")
    _password_option(password)


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out one ``staff`` command; exit status 2 with one line on stderr for bad input."""
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        sessions = session_factory(engine)
        password = None
        if args.staff_command in ("add", "password"):
            # Refuse a bad name before asking for a password, and ask outside any transaction
            # (typing takes a while; SQLite would keep the bot from writing meanwhile).
            async with sessions() as session:
                await _check_name(args, session)
            password = read_password(args.password_stdin)
        async with sessions.begin() as session:
            return await _command(args, session, utcnow(), password)
    except StaffError as exc:
        print(f"nudgebot: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        await engine.dispose()


async def _check_name(args: argparse.Namespace, session: AsyncSession) -> None:
    if args.staff_command == "password":
        await get_staff(session, args.username)
        return
    name = check_username(args.username)
    if await find_staff(session, name) is not None:
        raise StaffError(f"username {name!r} is taken")


async def _command(
    args: argparse.Namespace, session: AsyncSession, now: datetime, password: str | None
) -> int:
    command = args.staff_command
    if command == "list":
        rows = await list_staff(session)
        for line in table(rows, now):
            print(line)
        print(f"{len(rows)} staff account(s)")
    elif command == "disable":
        staff, ended = await disable_staff(session, args.username, now=now, actor=ACTOR)
        print(f"staff: disabled {staff.username}; {ended} session(s) signed out")
    elif command == "enable":
        staff = await enable_staff(session, args.username, now=now, actor=ACTOR)
        print(f"staff: enabled {staff.username}")
    elif command == "add":
        assert password is not None
        staff = await create_staff(
            session, args.username, password, args.role, now=now, actor=ACTOR,
            display_name=args.name,
        )  # fmt: skip
        print(f"staff: added {staff.username} ({staff.role}), shown as {staff.display_name!r}")
    else:
        assert password is not None
        staff, ended = await set_password(session, args.username, password, now=now, actor=ACTOR)
        print(f"staff: new password for {staff.username}; {ended} session(s) signed out")
    return EXIT_OK


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice without echo."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise StaffError("--password-stdin: standard input is empty")
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = getpass.getpass(f"Password (at least {MIN_PASSWORD} characters): ")
        check_password(password)
        if getpass.getpass("The same password again: ") != password:
            raise StaffError("the two passwords differ; nothing was changed")
    check_password(password)
    return password


def table(rows: Sequence[StaffUser], now: datetime) -> list[str]:
    """The accounts under a header, columns padded to their widest cell; nothing when empty."""
    if not rows:
        return []
    cells = [HEADER] + [
        (
            r.username,
            r.display_name,
            r.role,
            _status(r, now),
            f"{r.last_login_at:%Y-%m-%d %H:%M}" if r.last_login_at else "never",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in cells
    ]


def _status(staff: StaffUser, now: datetime) -> str:
    status = status_of(staff, now)
    if status == "locked":
        return f"locked until {staff.locked_until:%Y-%m-%d %H:%M}"
    return status
