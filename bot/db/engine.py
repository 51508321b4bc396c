"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def dialect_insert(session: AsyncSession, model: Any) -> Any:
    """The dialect's INSERT for ``model``, which knows ``ON CONFLICT``."""
    return insert_for(session.bind.dialect.name)(model)


def insert_for(dialect: str) -> Callable[[Any], Any]:
    """The ``insert`` construct of a dialect (``postgresql`` or ``sqlite``)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine with the settings each backend needs to behave the same."""
    # Statement parameters (what debtors wrote, names, phones) never appear in errors or logs.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # Said before any connection is tried: a failed first connect leaves aiosqlite's
        # worker thread racing the closing event loop, which printed a traceback at exit.
        folder = _missing_sqlite_folder(url)
        if folder is not None:
            raise unreachable(url, FileNotFoundError(folder))
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # No ping before each use: with asyncpg it costs three round trips, a quarter of a turn's.
    # After a restart of the server, the first statement on a dropped connection fails, which
    # makes SQLAlchemy discard every older pooled connection; the bot's turns and records run
    # in ``retrying`` and so lose nothing, and the ticker's next run picks up any other work.
    kwargs.setdefault("pool_recycle", 1800)
    # As many connections at most as SQLAlchemy's default (5 kept, 10 more on demand), but all
    # of them kept: under load the default opened and closed a connection for every few turns,
    # about a tenth of the bot's CPU, and lost each one's prepared statements.
    kwargs.setdefault("pool_size", 15)
    kwargs.setdefault("max_overflow", 0)
    # PostgreSQL's JIT compiles expensive-looking plans, and the planner's correlated checks
    # look expensive: compiling costs about a second per statement and saves nothing here.
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("server_settings", {}).setdefault("jit", "off")
    return create_async_engine(url, connect_args=connect_args, **kwargs)


def _missing_sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite file would go in, if it does not exist (never for ``:memory:``)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).parent
    return None if folder.exists() else folder


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock when a transaction starts. With SQLite's default deferred BEGIN, two
    # transactions that read and then write fail at once with "database is locked" instead of
    # waiting for each other.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, starts transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    # Foreign keys are off by default in SQLite; WAL lets the bot and the CLI work side by side.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


T = TypeVar("T")


async def retrying(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    also: tuple[type[DBAPIError], ...] = (),
) -> T:
    """Run ``work`` in a transaction; once more if the connection was lost (a database
    restart) or the error is one of ``also``. ``work`` must be safe to run twice."""
    for attempt in (1, 2):
        try:
            async with sessions.begin() as s:
                return await work(s)
        except DBAPIError as exc:
            if attempt == 2 or not (exc.connection_invalidated or isinstance(exc, also)):
                raise
    raise AssertionError("unreachable")


class DatabaseUnreachable(Exception):
    """The database named by the settings cannot be opened; the message says what to do."""


def unreachable(url: str, exc: BaseException) -> DatabaseUnreachable:
    """Say in one line why the database at ``url`` cannot be opened (never its password)."""
    parts = make_url(url)
    if parts.get_backend_name() == "sqlite":
        path = Path(parts.database or "")
        if parts.database and not path.parent.exists():
            return DatabaseUnreachable(
                f"cannot open the SQLite database {path}: the folder {path.parent} does not"
                " exist; create it or set NUDGEBOT_DATABASE_URL to another path"
            )
        return DatabaseUnreachable(f"cannot open the SQLite database {path}: {_reason(exc)}")
    where = f"{parts.host or 'localhost'}:{parts.port or 5432}"
    check = "check NUDGEBOT_DATABASE_URL"
    if isinstance(exc, ConnectionRefusedError):
        why = f"cannot reach PostgreSQL at {where}: connection refused (is the server running?)"
    elif isinstance(exc, socket.gaierror):
        why = f"cannot reach PostgreSQL: no host called {parts.host!r} is known"
    else:
        why = f"cannot use PostgreSQL at {where}, database {parts.database!r}: {_reason(exc)}"
    return DatabaseUnreachable(f"{why}; {check}")


def _reason(exc: BaseException) -> str:
    """The first line of what the driver said."""
    said = str(getattr(exc, "orig", None) or exc).strip()
    return said.splitlines()[0] if said else type(exc).__name__


# What the first connection raises when the database cannot be opened.
UNREACHABLE_ERRORS = (OSError, DBAPIError)
