"""When agents are at work: the policy's business hours, in the creditor's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.policy import BusinessHours

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(hours: BusinessHours, at: datetime) -> bool:
    """Whether agents are at work at the instant ``at``."""
    local = at.astimezone(ZoneInfo(hours.timezone))
    return DAYS[local.weekday()] in hours.days and hours.start <= local.time() < hours.end


def next_opening(hours: BusinessHours, at: datetime) -> datetime:
    """The first instant after ``at`` at which agents start work."""
    zone = ZoneInfo(hours.timezone)
    today = at.astimezone(zone).date()
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        opens = datetime.combine(day, hours.start, tzinfo=zone)
        if DAYS[day.weekday()] in hours.days and opens > at:
            return opens
    raise AssertionError("unreachable: business hours name at least one day")
