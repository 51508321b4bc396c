"""Shared fixtures: one real database per run (SQLite file or PostgreSQL), emptied between tests.

``NUDGEBOT_TEST_DATABASE_URL`` chooses the database; unset, each run uses a fresh SQLite file.
On PostgreSQL the run starts by dropping and recreating the ``public`` schema.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import migrate
from bot.db.engine import create_engine, is_sqlite, session_factory
from bot.db.models import Base
from bot.templates.store import forget_cached_templates

# Settings must come from the tests, never from a developer's .env or shell.
for _name in list(os.environ):
    if _name.startswith("NUDGEBOT_") and _name != "NUDGEBOT_TEST_DATABASE_URL":
        del os.environ[_name]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database, migrated to head from an empty schema."""
    url = os.environ.get("NUDGEBOT_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    asyncio.run(_empty_schema(url))
    migrate.upgrade(url)
    return url


async def _empty_schema(url: str) -> None:
    if is_sqlite(url):
        return
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def empty_tables(engine: AsyncEngine) -> None:
    """Delete every row, children first, so each test starts from nothing."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the emptied test database."""
    eng = create_engine(database_url)
    await empty_tables(eng)
    forget_cached_templates()
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory the application would use."""
    return session_factory(engine)


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Environment for running ``bot.cli.main`` in-process against the test database."""
    monkeypatch.setenv("NUDGEBOT_DATABASE_URL", database_url)
    asyncio.run(_empty_via_new_engine(database_url))
    yield database_url


async def _empty_via_new_engine(url: str) -> None:
    eng = create_engine(url)
    await empty_tables(eng)
    await eng.dispose()
