"""Template tests that send reminders use the reminder tests' local Telegram and sender."""

from __future__ import annotations

from tests.reminders import conftest as reminders

post = reminders.post
