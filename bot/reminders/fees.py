"""Late fees: a daily rate on the overdue amount, capped, waivable per account (pure)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from bot.policy import LateFees


def late_fee(amount_minor: int, dpd: int, fees: LateFees, *, waived: bool) -> int:
    """The fee in minor units (rounded down, in the debtor's favour); 0 when off or waived."""
    if not fees.enabled or waived or dpd <= 0 or amount_minor <= 0:
        return 0
    daily = Decimal(str(fees.daily_rate_permille)) / 1000
    accrued = (Decimal(amount_minor) * daily * dpd).to_integral_value(ROUND_FLOOR)
    cap = (Decimal(amount_minor) * Decimal(str(fees.cap_percent)) / 100).to_integral_value(
        ROUND_FLOOR
    )
    return int(min(accrued, cap))
