"""The import commands as an admin runs them: summary, errors on stderr, exit status."""

from __future__ import annotations

import csv

from bot.cli import main
from tests.helpers import ACCOUNT_HEADER, write_csv

GOOD = "ACC-1,D-1,Alice Martin,+14155550132,en,America/Chicago,USD,500.00,2026-11-01,,\n"
BAD = "ACC-2,D-2,Bob Stone,+14155550133,en,America/Chicago,USD,-1,2026-11-01,,\n"


def test_clean_file_exits_0(cli_env, tmp_path, capsys):
    path = write_csv(tmp_path / "a.csv", ACCOUNT_HEADER + GOOD)
    assert main(["import", "accounts", str(path)]) == 0
    assert capsys.readouterr().out == (
        "accounts: 1 new, 0 updated, 0 unchanged, 0 rows with errors\n"
    )


def test_row_errors_exit_1_and_go_to_the_report(cli_env, tmp_path, capsys):
    path = write_csv(tmp_path / "a.csv", ACCOUNT_HEADER + GOOD + BAD)
    report = tmp_path / "errors.csv"

    status = main(["import", "accounts", str(path), "--report", str(report)])

    out, err = capsys.readouterr()
    assert status == 1
    assert out == "accounts: 1 new, 0 updated, 0 unchanged, 1 row with errors\n"
    assert err == "  line 3, column amount_due: -1 must be greater than zero\n"
    with report.open(newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["line", "column", "reason"],
            ["3", "amount_due", "-1 must be greater than zero"],
        ]


def test_the_summary_counts_rows_with_errors_and_their_problems(cli_env, tmp_path, capsys):
    worse = "ACC-3,D-3,Cy Park,+14155550134,en,Mars/Olympus,USD,-1,someday,,\n"
    path = write_csv(tmp_path / "a.csv", ACCOUNT_HEADER + GOOD + BAD + worse)
    assert main(["import", "accounts", str(path)]) == 1
    out, err = capsys.readouterr()
    problems = err.count("line 4, ")
    assert problems >= 2, err
    assert out == (
        f"accounts: 1 new, 0 updated, 0 unchanged, 2 rows with errors ({problems + 1} problems)\n"
    )


def test_unreadable_file_exits_2_and_imports_nothing(cli_env, tmp_path, capsys):
    path = write_csv(tmp_path / "a.csv", "account_ref,amount\nA,1\n")
    assert main(["import", "accounts", str(path)]) == 2
    assert "missing column(s): debtor_ref, full_name" in capsys.readouterr().err


def test_missing_file_exits_2(cli_env, tmp_path, capsys):
    assert main(["import", "payments", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err.endswith("nope.csv: no such file\n")


def test_payments_command_reports_counts(cli_env, tmp_path, capsys):
    main(["import", "accounts", str(write_csv(tmp_path / "a.csv", ACCOUNT_HEADER + GOOD))])
    payments = write_csv(
        tmp_path / "p.csv", "payment_ref,account_ref,amount,paid_at\nP-1,ACC-1,5,2026-11-02\n"
    )
    capsys.readouterr()
    assert main(["import", "payments", str(payments)]) == 0
    assert main(["import", "payments", str(payments)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "payments: 1 new, 0 updated, 0 unchanged, 0 rows with errors",
        "payments: 0 new, 0 updated, 1 unchanged, 0 rows with errors",
    ]


def test_a_truncated_full_file_exits_2_until_yes(cli_env, tmp_path, capsys):
    book = "".join(
        f"ACC-{n},D-{n},Debtor {n},+1415555{n:04},en,America/Chicago,USD,50.00,2026-11-01,,\n"
        for n in range(1, 11)
    )
    assert (
        main(["import", "accounts", str(write_csv(tmp_path / "a.csv", ACCOUNT_HEADER + book))])
        == 0
    )
    cut = write_csv(tmp_path / "cut.csv", ACCOUNT_HEADER + book.split("ACC-4,")[0])
    capsys.readouterr()

    assert main(["import", "accounts", str(cut), "--full"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"nudgebot: {cut}: this full file leaves out 7 of the 10 open accounts (70%), more than"
        " the 20% a full file may withdraw; nothing was imported. Check that the file is the"
        " whole book, or run again with --yes to withdraw them\n"
    )
    assert main(["import", "accounts", str(cut), "--full", "--yes"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "accounts: 0 new, 0 updated, 3 unchanged, 0 rows with errors",
        "accounts: 7 open accounts left out of the full file were withdrawn: no more reminders,"
        " promises and plans on them ended with a message to the debtor, open tickets noted",
    ]
    assert main(["import", "accounts", str(cut), "--full"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "accounts: the full file holds every open account; none withdrawn"
    )


def test_the_progress_rate_counts_each_stage_from_its_start(monkeypatch):
    from bot import cli

    clock = iter([100.0, 102.0, 104.0, 109.0])  # began; two batches read; a chunk saved
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    shown: list[str] = []

    class Bar:
        def set_postfix_str(self, text: str) -> None:
            shown.append(text)

    show = cli._rows_per_second(Bar())
    show("reading", 5000)
    show("reading", 10000)
    show("saving", 10000)

    assert shown == [
        "reading 5,000 rows, 2,500 rows/s",
        "reading 10,000 rows, 2,500 rows/s",
        "saving 10,000 rows, 2,000 rows/s",
    ]
