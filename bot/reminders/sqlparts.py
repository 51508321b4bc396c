"""Small SQL pieces that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Integer, String, cast, literal, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, Subquery
from sqlalchemy.sql.functions import FunctionElement

from bot.db.base import UTCDateTime


class days_since_epoch(FunctionElement[int]):
    """A DATE column as whole days since 1970-01-01."""

    type = Integer()
    inherit_cache = True


@compiles(days_since_epoch, "postgresql")
def _days_pg(element: days_since_epoch, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} - DATE '1970-01-01')"


@compiles(days_since_epoch, "sqlite")
def _days_sqlite(element: days_since_epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5 AS INTEGER)"


def rows_table(name: str, columns: dict[str, Any], rows: list[tuple[Any, ...]]) -> Subquery:
    """A small constant table, built from SELECTs of literals (VALUES that SQLite also reads).

    A subquery, not a CTE: Python's sqlite3 reports no row count for a statement that starts
    with WITH, and the planner counts what it inserted.
    """
    types = {
        str: String(),
        int: Integer(),
        datetime: UTCDateTime(),
        date: Date(),
    }
    selects = [
        select(
            *(
                literal(value, types[columns[col]]).label(col)
                for col, value in zip(columns, row, strict=True)
            )
        )
        for row in rows
    ]
    return (union_all(*selects) if len(selects) > 1 else selects[0]).subquery(name)


def as_text(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """Cast to text for building keys with ``+`` (rendered ``||``)."""
    return cast(expr, String())
