"""What the benchmarks share: a fresh PostgreSQL database migrated to the newest schema,
verified chats for every debtor, and a vacuumed state to measure."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db import migrate
from bot.db.engine import create_engine, is_sqlite


async def fresh_database(url: str) -> None:
    """Drop and recreate the database named in ``url`` (PostgreSQL), then migrate it."""
    if not is_sqlite(url):
        admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        name = url.rsplit("/", 1)[1]
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
    await asyncio.to_thread(migrate.upgrade, url)


async def link_every_debtor(conn: AsyncConnection, chat_base: int) -> None:
    """A verified Telegram chat for every debtor, chat id ``chat_base + debtor id``."""
    await conn.execute(
        text(
            "INSERT INTO channel_link (debtor_id, channel, chat_id, user_id, linked_at,"
            " verified_at, verify_method, failed_attempts)"
            " SELECT id, 'telegram', :base + id, :base + id, now(), now(), 'contact', 0"
            " FROM debtor"
        ),
        {"base": chat_base},
    )


async def vacuum(engine: AsyncEngine) -> None:
    """Freshly loaded rows are not yet vacuumed: the first reader would pay for setting their
    hint bits. A database in service has had autovacuum over it, so measure that state."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
