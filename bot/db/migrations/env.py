"""Alembic environment: runs migrations over our async engine, online only."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from bot.db.base import UTCDateTime
from bot.db.engine import create_engine
from bot.db.models import Base

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our UTC timestamp type as the plain SQLAlchemy type it stores as."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_with(connection: Connection) -> None:
    """Run migrations on one synchronous connection."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    """Connect with our engine (same pragmas as the application) and migrate."""
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # A batch migration rebuilds a table and drops the old one; with foreign keys
                # on, that fails as soon as rows of other tables point at it. The pragma only
                # takes effect outside a transaction, so it goes to the driver directly.
                raw = await connection.get_raw_connection()
                await raw.driver_connection.execute("PRAGMA foreign_keys=OFF")
            await connection.run_sync(run_with)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

existing = config.attributes.get("connection")
if existing is not None:
    run_with(existing)
else:
    asyncio.run(run_online())
