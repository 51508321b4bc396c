"""Local time for each debtor's zone: dates, the contact window and its three slots (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.policy import Window

EPOCH = date(1970, 1, 1)
SLOTS = ("morning", "midday", "evening")


def day_number(day: date) -> int:
    """Days since 1970-01-01: dates as integers both databases compare the same way."""
    return (day - EPOCH).days


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(name: str, day: date, at: time) -> datetime:
    """The UTC instant of a wall-clock time on a local date (a skipped time moves forward)."""
    zone = _zone(name)
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # Round-trip through UTC: a wall time that does not exist (spring forward) lands after the gap.
    result = aware.astimezone(UTC)
    if result.astimezone(zone).replace(tzinfo=None) < naive:
        result = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return result


@dataclass(frozen=True)
class ZoneClock:
    """One zone at one instant."""

    zone: str
    local_date: date
    opens_at: datetime  # today's window, UTC
    closes_at: datetime
    now: datetime

    @property
    def day(self) -> int:
        """The local date as a day number."""
        return day_number(self.local_date)

    @property
    def in_window(self) -> bool:
        """Whether a proactive message may go out now."""
        return self.opens_at <= self.now < self.closes_at

    @property
    def plannable(self) -> bool:
        """Whether today's window has not closed yet."""
        return self.now < self.closes_at

    @property
    def send_from(self) -> datetime:
        """The earliest instant today a message may go out."""
        return max(self.now, self.opens_at)


def zone_clock(zone: str, now: datetime, window: Window) -> ZoneClock:
    """Where ``now`` falls in ``zone``."""
    local_date = now.astimezone(_zone(zone)).date()
    return ZoneClock(
        zone=zone,
        local_date=local_date,
        opens_at=local_instant(zone, local_date, window.start),
        closes_at=local_instant(zone, local_date, window.end),
        now=now,
    )


def slot_bounds(zone: str, day: date, window: Window, slot: int) -> tuple[datetime, datetime]:
    """Start and end (UTC) of one third of the window on a local date."""
    opens = local_instant(zone, day, window.start)
    closes = local_instant(zone, day, window.end)
    third = (closes - opens) / 3
    return opens + third * slot, opens + third * (slot + 1)


def slot_of(zone: str, instant: datetime, window: Window) -> int | None:
    """Which third of the window an instant fell in (None outside the window)."""
    day = instant.astimezone(_zone(zone)).date()
    for slot in range(len(SLOTS)):
        start, end = slot_bounds(zone, day, window, slot)
        if start <= instant < end:
            return slot
    return None


def next_slot_start(zone: str, now: datetime, window: Window, slot: int) -> datetime:
    """Now if ``now`` is inside that slot, else the slot's next start."""
    day = now.astimezone(_zone(zone)).date()
    for offset in (0, 1):
        start, end = slot_bounds(zone, day + timedelta(days=offset), window, slot)
        if now < end:
            return max(now, start)
    raise AssertionError("a slot recurs every day")
