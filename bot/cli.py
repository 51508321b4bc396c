"""The ``nudgebot`` command line: running the bot or its offline sandbox, the database, imports,
reminders, links, tickets and staff accounts."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tqdm import tqdm

from bot import cli_staff, cli_tickets
from bot.accounts.csvfile import CsvFileError
from bot.accounts.importer import Book, FullFileRefused, ImportReport, OnProgress
from bot.app import PortInUse, serve
from bot.channels.telegram.links import bot_username, deep_link
from bot.channels.telegram.ratelimit import limiter_for
from bot.channels.telegram.reach import BotApiUnreachable, check_bot_api, standalone_bot
from bot.channels.telegram.sender import TelegramSender
from bot.db import migrate
from bot.db.base import utcnow
from bot.db.engine import (
    UNREACHABLE_ERRORS,
    DatabaseUnreachable,
    create_engine,
    session_factory,
    unreachable,
)
from bot.db.workers import WorkerLease
from bot.linking.tokens import issue_links
from bot.policy import PolicyError, load_policy
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.explain import explain, find_debtor
from bot.sandbox.launch import SANDBOX_CREDITOR, remove_sqlite_file, serve_sandbox
from bot.services.cycle import run_cycle
from bot.services.payments import import_payments
from bot.services.portfolio import import_portfolio
from bot.settings import Settings, SettingsError, load_settings
from bot.web.console import why

EXIT_OK, EXIT_ROWS_FAILED, EXIT_CANNOT_RUN = 0, 1, 2
SHOWN_ERRORS = 50
PROGRESS_FROM_BYTES = 1_000_000
SANDBOX_DATABASE = "sqlite+aiosqlite:///./nudgebot-sandbox.db"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="nudgebot", description=__doc__.replace("``", ""))
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply all migrations").add_argument(
        "--revision", default="head"
    )
    db.add_parser("current", help="show the schema revision")
    revision = db.add_parser("revision", help="(developers) write a migration from the models")
    revision.add_argument("-m", "--message", required=True)

    imports = commands.add_parser("import", help="load creditor files").add_subparsers(
        dest="import_command", required=True
    )
    for name, help_text in (
        ("accounts", "portfolio CSV: upsert debtors and accounts by reference"),
        ("payments", "payments CSV: record payments once by payment_ref"),
    ):
        sub = imports.add_parser(name, help=help_text)
        sub.add_argument("file", type=Path)
        sub.add_argument(
            "--report", type=Path, help="write every row error to this CSV (line,column,reason)"
        )
        if name == "accounts":
            sub.add_argument(
                "--full", action="store_true",
                help="the file is the whole book: open accounts it leaves out are withdrawn"
                " (their promises and plans end, open tickets get a note); implies"
                " --phones replace",
            )  # fmt: skip
            sub.add_argument(
                "--phones", choices=("add", "replace"), default="add",
                help="add the file's phones to each debtor's (default), or make them the only"
                " ones: a chat verified with a removed phone must verify again",
            )  # fmt: skip
            sub.add_argument(
                "--yes", action="store_true",
                help="withdraw even when a full file leaves out more than --max-withdrawn",
            )  # fmt: skip
            sub.add_argument(
                "--max-withdrawn", type=_percent, default=20, metavar="PERCENT",
                help="share of the open book a full file may withdraw without --yes"
                " (default 20)",
            )  # fmt: skip
    commands.add_parser("run", help="run the bot and the web server until stopped")
    sandbox = commands.add_parser(
        "sandbox", help="try nudgebot offline: a local Telegram, sample debtors and a chat page"
    )
    sandbox.add_argument("--port", type=int, default=8081, help="port of the local Telegram")
    sandbox.add_argument(
        "--database-url",
        default=SANDBOX_DATABASE,
        help="database to fill with sample data (emptied at every start when SQLite)",
    )

    remind = commands.add_parser(
        "remind", help="run one plan-and-dispatch cycle for an instant and print a summary"
    )
    remind.add_argument(
        "--at", type=_instant, default=None, help="ISO 8601 instant with offset (default: now)"
    )

    explain = commands.add_parser(
        "explain", help="why the bot will or will not write to a debtor, as it decides"
    )
    explain.add_argument("debtor_ref", help="the debtor's reference, exactly")
    explain.add_argument(
        "--at", type=_instant, default=None, help="ISO 8601 instant with offset (default: now)"
    )

    links = commands.add_parser("links", help="deep links for debtors").add_subparsers(
        dest="links_command", required=True
    )
    export = links.add_parser("export", help="write account_ref,debtor_ref,link for new links")
    export.add_argument("out", type=Path)
    export.add_argument(
        "--rotate", action="store_true", help="revoke every live link and issue new ones to all"
    )
    export.add_argument(
        "--bot-username", help="skip asking the Bot API (getMe) for the bot's username"
    )
    cli_tickets.add_parser(commands)
    cli_staff.add_parser(commands)
    return parser


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and the exception's type
    and traceback when there is one. Messages never carry personal data (what debtors wrote,
    names, phones: the code logs ids and counts), and database errors hide their parameters."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str = "text") -> None:
    """Log to stderr, as text or JSON lines; HTTP client logs stay quiet because request URLs
    carry the bot token."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "db":
            return _db(args, settings)
        if args.command == "run":
            configure_logging(settings.log_format)
            asyncio.run(serve(settings))
            return EXIT_OK
        if args.command == "sandbox":
            configure_logging(settings.log_format)
            update: dict[str, object] = {"database_url": args.database_url}
            if "creditor_name" not in settings.model_fields_set:
                update["creditor_name"] = SANDBOX_CREDITOR
            sandbox_settings = settings.model_copy(update=update)
            remove_sqlite_file(args.database_url)
            asyncio.run(serve_sandbox(sandbox_settings, args.port))
            return EXIT_OK
        if args.command == "remind":
            return asyncio.run(_remind(args, settings))
        if args.command == "explain":
            return asyncio.run(_explain(args, settings))
        if args.command == "links":
            return asyncio.run(_export_links(args, settings))
        if args.command == "tickets":
            return asyncio.run(cli_tickets.run(args, settings))
        if args.command == "staff":
            return asyncio.run(cli_staff.run(args, settings))
        path: Path = args.file
        if path.is_dir():
            print(f"nudgebot: {path} is a folder; give the path of a CSV file", file=sys.stderr)
            return EXIT_CANNOT_RUN
        if not path.is_file():
            print(f"nudgebot: {path}: no such file", file=sys.stderr)
            return EXIT_CANNOT_RUN
        size = path.stat().st_size
        with tqdm(
            total=size, unit="B", unit_scale=True, desc=path.name, file=sys.stderr,
            disable=None if size >= PROGRESS_FROM_BYTES else True,
        ) as bar:  # fmt: skip
            return asyncio.run(_import(args, settings, bar))
    except (
        SettingsError, PolicyError, migrate.SchemaOutOfDate, PortInUse, DatabaseUnreachable,
        BotApiUnreachable,
    ) as exc:  # fmt: skip
        print(f"nudgebot: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print(
            "nudgebot: interrupted; finished batches are saved, rerun to continue", file=sys.stderr
        )
        return 130


def _db(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(settings.database_url, args.revision)
        elif args.db_command == "current":
            migrate.current(settings.database_url)
        else:
            migrate.revision(settings.database_url, args.message)
    except UNREACHABLE_ERRORS as exc:
        raise unreachable(settings.database_url, exc) from None
    return EXIT_OK


async def _import(args: argparse.Namespace, settings: Settings, bar: tqdm) -> int:
    path: Path = args.file
    on_bytes, on_progress = bar.update, _rows_per_second(bar)
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        sessions = session_factory(engine)
        policy = load_policy(settings.policy_file)
        if args.import_command == "accounts":
            book = Book(
                full=args.full, replace_phones=args.phones == "replace", confirmed=args.yes,
                max_withdrawn=args.max_withdrawn / 100,
            )  # fmt: skip
            report = await import_portfolio(
                sessions, path, region=settings.default_region, policy=policy,
                link_ttl=timedelta(days=settings.link_token_ttl_days), book=book,
                on_bytes=on_bytes, on_progress=on_progress, clock=utcnow,
            )  # fmt: skip
        else:
            report = await import_payments(sessions, path, policy, on_bytes, clock=utcnow)
    except CsvFileError as exc:
        print(f"nudgebot: {path}: {exc}; nothing was imported", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except FullFileRefused as exc:
        print(f"nudgebot: {path}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        await engine.dispose()
    _print_report(args.import_command, report, args.report, full=getattr(args, "full", False))
    return EXIT_ROWS_FAILED if report.errors else EXIT_OK


def _rows_per_second(bar: tqdm) -> OnProgress:
    """Show the stage and its rows per second beside the bar of bytes read. A stage is told
    of its rows once a batch is done, so it began when the stage before it was last heard of
    (the first, when the import began)."""
    began: dict[str, float] = {}
    last = time.monotonic()

    def show(stage: str, rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        elapsed = now - began.setdefault(stage, last)
        last = now
        rate = f", {rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        bar.set_postfix_str(f"{stage} {rows:,} rows{rate}")

    return show


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage from 0 to 100")
    return value


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset, e.g. +00:00")
    return value.astimezone(UTC)


async def _remind(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy(settings.policy_file)
    settings.require("bot_token")
    at = args.at or utcnow()
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        sessions = session_factory(engine)
        bot = standalone_bot(
            settings,
            limiter_for(
                engine, policy.dispatch.global_per_second, policy.dispatch.per_chat_per_second
            ),
        )
        await check_bot_api(bot, settings)
        lease = WorkerLease(sessions, lease_seconds=policy.dispatch.lease_seconds)
        async with bot:
            await lease.start()
            try:
                dispatcher = Dispatcher(
                    sessions, TelegramSender(bot, sessions, lambda: at, lease), policy,
                    creditor=settings.creditor_name,
                    payment_url_template=settings.payment_url_template,
                )  # fmt: skip
                report = await run_cycle(sessions, dispatcher, policy, at)
            finally:
                await lease.stop()
    finally:
        await engine.dispose()
    print(f"remind at {at.isoformat()}")
    for line in report.lines():
        print(f"  {line}")
    return EXIT_OK


async def _explain(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy(settings.policy_file)
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        async with session_factory(engine)() as session:
            debtor = await find_debtor(session, args.debtor_ref)
            if debtor is None:
                print(f"nudgebot: no debtor has reference {args.debtor_ref!r}", file=sys.stderr)
                return EXIT_CANNOT_RUN
            trace = await explain(session, policy, debtor.id, args.at or utcnow())
    finally:
        await engine.dispose()
    for line in why.lines(trace):
        print(line)
    return EXIT_OK


async def _export_links(args: argparse.Namespace, settings: Settings) -> int:
    username = args.bot_username or await bot_username(settings)
    engine = create_engine(settings.database_url)
    try:
        await migrate.ensure_schema(engine, settings.database_url)
        async with session_factory(engine).begin() as session:
            issued, skipped = await issue_links(
                session, now=utcnow(), ttl=timedelta(days=settings.link_token_ttl_days),
                rotate=args.rotate,
            )  # fmt: skip
            # Written inside the transaction: if the file cannot be written, no token is issued.
            with args.out.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(["account_ref", "debtor_ref", "link"])
                for link in issued:
                    url = deep_link(username, link.token)
                    writer.writerows((ref, link.debtor_ref, url) for ref in link.account_refs)
    finally:
        await engine.dispose()
    print(f"links: {len(issued)} debtor(s) got a new link in {args.out}")
    if skipped:
        print(
            f"links: {skipped} debtor(s) already hold a live link or a verified chat and were"
            " left alone (--rotate replaces every link)"
        )
    return EXIT_OK


def rows_with_errors(report: ImportReport) -> str:
    """``3 rows with errors (7 problems)``: a row may have several problems."""
    rows = len({error.line for error in report.errors})
    problems = len(report.errors)
    said = f"{rows} row{'s' if rows != 1 else ''} with errors"
    return said if problems == rows else f"{said} ({problems} problems)"


def _print_report(
    kind: str, report: ImportReport, report_path: Path | None, *, full: bool = False
) -> None:
    print(
        f"{kind}: {report.created} new, {report.updated} updated, {report.unchanged} unchanged,"
        f" {rows_with_errors(report)}"
    )
    if report.phones_removed:
        print(
            f"{kind}: phones {report.phones_added} added, {report.phones_removed} removed;"
            f" {report.verify_again} chat(s) must verify again"
        )
    if full and not report.held and not report.withdrawn:
        print(f"{kind}: the full file holds every open account; none withdrawn")
    elif full and not report.held:
        many = report.withdrawn != 1
        print(
            f"{kind}: {report.withdrawn} open account{'s' if many else ''} left out of the full"
            f" file {'were' if many else 'was'} withdrawn: no more reminders, promises and"
            " plans on them ended with a message to the debtor, open tickets noted"
        )
    if report.held:
        print(f"{kind}: {report.held}", file=sys.stderr)
    for error in report.errors[:SHOWN_ERRORS]:
        print(f"  {error}", file=sys.stderr)
    if len(report.errors) > SHOWN_ERRORS:
        rest = len(report.errors) - SHOWN_ERRORS
        hint = f"; all are in {report_path}" if report_path else "; use --report FILE for all"
        print(f"  ... and {rest} more{hint}", file=sys.stderr)
    if report_path:
        with report_path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "column", "reason"])
            writer.writerows((e.line, e.column or "", e.reason) for e in report.errors)
