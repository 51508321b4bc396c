"""What the benchmarks share: a fresh PostgreSQL database migrated to the newest schema."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

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
