"""``nudgebot tickets``: the handoff queue from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bot.db import migrate
from bot.db.engine import create_engine, session_factory
from bot.db.models import TicketStatus
from bot.handoff.tickets import STATUS_ALL, TicketRow, list_tickets
from bot.settings import Settings

HEADER = ("id", "opened (UTC)", "status", "debtor_ref", "account_ref", "reasons")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``tickets list``."""
    tickets = commands.add_parser("tickets", help="handoff tickets").add_subparsers(
        dest="tickets_command", required=True
    )
    listing = tickets.add_parser("list", help="print the ticket queue, oldest first")
    listing.add_argument(
        "--status",
        choices=[*(status.value for status in TicketStatus), STATUS_ALL],
        default=None,
        help="only tickets in this status (default: open and claimed)",
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the tickets as an aligned table and a count; returns the exit status."""
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        async with session_factory(engine)() as session:
            rows = await list_tickets(session, args.status)
    finally:
        await engine.dispose()
    for line in table(rows):
        print(line)
    print(f"{len(rows)} ticket(s)")
    return 0


def table(rows: Sequence[TicketRow]) -> list[str]:
    """The rows under a header, columns padded to their widest cell; nothing when empty."""
    if not rows:
        return []
    cells = [HEADER] + [
        (
            str(r.id),
            f"{r.opened_at:%Y-%m-%d %H:%M}",
            r.status,
            r.debtor_ref,
            r.account_ref or "-",
            ",".join(r.reasons),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in cells
    ]
