"""Small helpers for tests: files written byte for byte, realistic portfolio rows."""

from __future__ import annotations

from pathlib import Path

ACCOUNT_HEADER = (
    "account_ref,debtor_ref,full_name,phone,locale,timezone,currency,amount_due,due_date,"
    "email,product\n"
)


def write_csv(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a CSV file exactly as given (no newline translation)."""
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path
