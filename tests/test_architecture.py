"""The shape of bot/ holds: the import-linter contracts in pyproject.toml are kept, and bite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_the_import_contracts_are_kept():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("bot/money.py", "import telegram", "Frameworks stay at the edges"),
        ("bot/promises/events.py", "import bot.reminders.planner", "Layers"),
        ("bot/handoff/tickets.py", "import bot.accounts.importer", "Layers"),
        ("bot/reminders/compose.py", "import bot.conversation.replies", "Layers"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, line: str, broken: str):
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a", encoding="utf-8") as f:
        f.write(f"\n{line}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode == 1
    assert f"{broken}" in done.stdout.split("Broken contracts")[1]
