"""How the console says things: reasons, ages and instants, for agents reading all day."""

from __future__ import annotations

from datetime import UTC, datetime

REASONS = {
    "dispute": "Dispute",
    "hardship": "Hardship",
    "complaint": "Complaint",
    "deceased": "Reported deceased",
    "broken_promises": "Broken promises",
    "plan_review": "Plan to review",
    "plan_broken": "Plan broken",
    "final_stage": "Final stage",
    "person_requested": "Asked for a person",
}


def reason_label(reason: str) -> str:
    """A ticket reason as words."""
    return REASONS.get(reason, reason.replace("_", " ").capitalize())


def age(minutes: int) -> str:
    """A ticket's age, short: ``7 min``, ``2 h 05``, ``3 d 4 h``."""
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d}"
    return f"{minutes // (24 * 60)} d {minutes % (24 * 60) // 60} h"


def when(instant: datetime | None) -> str:
    """An instant as the console shows it (UTC, the staff's common clock)."""
    if instant is None:
        return ""
    return f"{instant.astimezone(UTC):%d %b %H:%M}"


def iso(instant: datetime | None) -> str:
    """An instant for a page's script (shown in the reader's own time zone there)."""
    return "" if instant is None else instant.astimezone(UTC).isoformat()


FILTERS = {"reason_label": reason_label, "age": age, "when": when, "iso": iso}
