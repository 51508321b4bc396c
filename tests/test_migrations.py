"""Migrations build the schema from empty and match the models exactly, on each database."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db import migrate
from bot.db.engine import create_engine
from bot.db.models import Base


async def _diff_and_tables(url: str) -> tuple[list, set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn):
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                tables = set(inspect(sync_conn).get_table_names())
                return compare_metadata(context, Base.metadata), tables

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


def test_down_to_empty_and_up_again_matches_the_models(database_url):
    migrate.downgrade(database_url, "base")
    _, tables = asyncio.run(_diff_and_tables(database_url))
    assert tables <= {"alembic_version"}

    migrate.upgrade(database_url)
    diff, tables = asyncio.run(_diff_and_tables(database_url))

    assert diff == []
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_migrations_form_one_line_of_dated_revisions():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        assert revision.path.rsplit("/", 1)[-1][:10].replace("_", "").isdigit()
