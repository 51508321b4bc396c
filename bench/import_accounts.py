"""Benchmark: import 100,000 generated accounts on SQLite and on PostgreSQL, then the same
file again as a full file (nothing changes, nothing is withdrawn).

Prints rows/s, seconds and the part after the last batch is staged (merging, withdrawing),
peak memory (max RSS of a fresh process per database, and of the largest worker process),
and each rate as a share of merely reading and validating the file in one process. The goal
for 1,000,000 accounts on PostgreSQL is 60 s (16,700 rows/s).

    python bench/import_accounts.py [--rows 100000] [--pg postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from common import fresh_database

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench"
HEADER = (
    "account_ref,debtor_ref,full_name,phone,locale,timezone,currency,amount_due,due_date,"
    "email,product\n"
)
PEOPLE = [
    ("en_US", "America/New_York", "USD", "+1 212 555 {:04d}", "Jordan Lee"),
    ("zh_CN", "Asia/Shanghai", "CNY", "+86 138 {:04d} 8000", "李华"),
    ("en_GB", "Europe/London", "GBP", "+44 7911 12{:04d}", "Sam Taylor"),
    ("en_IN", "Asia/Kolkata", "INR", "+91 98765 4{:04d}", "Priya Nair"),
]


def generate(path: Path, rows: int) -> None:
    """Write a portfolio of ``rows`` accounts, about two per debtor."""
    rng = random.Random(7)
    start = date(2026, 9, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            debtor = i // 2
            locale, zone, currency, phone, name = PEOPLE[debtor % len(PEOPLE)]
            amount = f"{rng.randint(1000, 500000) / 100:.2f}"
            due = start + timedelta(days=rng.randint(0, 120))
            out.write(
                f"ACC-{i:07d},D-{debtor:07d},{name} {debtor},{phone.format(debtor % 10000)},"
                f"{locale},{zone},{currency},{amount},{due},,Loan\n"
            )


async def _one(url: str, path: Path) -> dict[str, float]:
    from bot.accounts.importer import Book, import_accounts
    from bot.db.base import utcnow
    from bot.db.engine import create_engine, session_factory

    await fresh_database(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    result: dict[str, float] = {}
    for run, book in (("first", Book()), ("again", Book(full=True))):
        stages: dict[str, float] = {}
        started = time.perf_counter()
        report = await import_accounts(
            sessions, path, region="US", clock=utcnow, book=book,
            on_progress=lambda stage, _, seen=stages: seen.__setitem__(stage, time.perf_counter()),
        )  # fmt: skip
        done = time.perf_counter()
        if report.errors or report.imported != report.created + report.unchanged:
            raise SystemExit(f"unexpected: {report}")
        # The last "reading" is the last batch staged: merging (and withdrawing) follows.
        result.update({
            f"{run}_rows": report.imported, f"{run}_seconds": done - started,
            f"{run}_merge": done - stages["reading"],
        })  # fmt: skip
    await engine.dispose()
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The processes that read and validate (bot.accounts.importer.worker_count), largest one.
    result["worker_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def _validate_only(path: Path) -> dict[str, float]:
    from bot.accounts.csvfile import CsvRow, read_rows
    from bot.accounts.rows import ACCOUNT_COLUMNS, ACCOUNT_OPTIONAL, validate_account

    started = time.perf_counter()
    count = 0
    for row in read_rows(path, ACCOUNT_COLUMNS, ACCOUNT_OPTIONAL):
        assert isinstance(row, CsvRow)
        validate_account(row, "US")
        count += 1
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": count, "seconds": seconds, "peak_mb": peak}


def _child(target: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", target, "--file", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Generate the file, run each database in a fresh process, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--child")
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        result = (
            _validate_only(args.file)
            if args.child == "validate"
            else asyncio.run(_one(args.child, args.file))
        )
        print(json.dumps(result))
        return
    from bot.accounts.importer import worker_count

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "portfolio.csv"
        generate(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(f"portfolio: {args.rows:,} accounts, {size_mb:.1f} MB")
        base = _child("validate", path)
        print(
            f"{'read+validate only':<34} {base['rows'] / base['seconds']:>8,.0f} rows/s"
            f"  {base['seconds']:6.1f} s  peak {base['peak_mb']:6.0f} MB"
        )
        for name, url in (
            ("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"),
            ("postgresql", args.pg),
        ):
            r = _child(url, path)
            for run, label in (("first", name), ("again", f"{name} unchanged, --full")):
                seconds = r[f"{run}_seconds"]
                print(
                    f"{label:<34} {r[f'{run}_rows'] / seconds:>8,.0f} rows/s  {seconds:6.1f} s"
                    f"  (merge {r[f'{run}_merge']:5.1f} s)"
                    f"  {base['seconds'] / seconds:.2f}x the read+validate rate"
                )
            workers = worker_count(path)
            print(
                f"{'':<34} peak {r['peak_mb']:.0f} MB"
                + (
                    f", and {workers} workers of {r['worker_mb']:.0f} MB at most"
                    if workers
                    else ""
                )
            )


if __name__ == "__main__":
    main()
