"""The collection policy: stages, contact window, caps and holds, read from TOML and validated."""

from __future__ import annotations

import tomllib
from datetime import time
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.resources import resource_dir

DEFAULT_POLICY = Path(__file__).with_name("default_policy.toml")


class PolicyError(Exception):
    """The policy file is unreadable or a field is wrong; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Strict):
    """One stage of delinquency with its message and cadence."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    from_dpd: int
    to_dpd: int
    cadence_days: int = Field(ge=1)
    template: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")

    @model_validator(mode="after")
    def _ordered(self) -> Stage:
        if self.to_dpd < self.from_dpd:
            raise ValueError("to_dpd must not be before from_dpd")
        return self

    @field_validator("template")
    @classmethod
    def _shipped(cls, key: str) -> str:
        # English is every message's fallback, so a stage's message must ship in English;
        # otherwise the first reminder of that stage would fail at send time, not here.
        if not (resource_dir("templates/messages") / "en" / f"{key}.j2").is_file():
            raise ValueError(f"no message template {key!r} ships in English")
        return key


class Final(_Strict):
    """Where automation ends and the agent queue takes over."""

    from_dpd: int


class Window(_Strict):
    """Local hours when proactive messages may go out."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Caps(_Strict):
    """How often a debtor may be contacted proactively."""

    max_per_7_days: int = Field(ge=1, le=50)
    min_gap_hours: float = Field(ge=0)


class NonResponders(_Strict):
    """When to move reminders to another time of day."""

    unanswered: int = Field(ge=1)


class Holds(_Strict):
    """Which holds stop automated reminders."""

    opted_out: bool = True
    cease: bool = True
    dispute: bool = True
    deceased: bool = True
    bankruptcy: bool = True
    hardship: bool = True
    open_ticket: bool = True
    open_promise: bool = True
    plan_in_good_standing: bool = True

    @field_validator("opted_out", "cease", "deceased")
    @classmethod
    def _lawful(cls, value: bool) -> bool:
        # The law, not policy, requires these: a person who asked to stop, or has died.
        if not value:
            raise ValueError("cannot be switched off")
        return value


class LateFees(_Strict):
    """A daily fee on the overdue amount, off by default."""

    enabled: bool = False
    daily_rate_permille: float = Field(ge=0, le=10)
    cap_percent: float = Field(ge=0, le=100)


class Dispatch(_Strict):
    """Sending limits and retries."""

    # Telegram's free limit is about 30/s; paid broadcasts allow up to 1,000/s.
    global_per_second: float = Field(gt=0, le=1000)
    per_chat_per_second: float = Field(gt=0, le=1)
    max_attempts: int = Field(ge=1, le=10)
    lease_seconds: float = Field(ge=3, le=600)


class Schedule(_Strict):
    """How often the running bot plans and dispatches."""

    plan_every_minutes: int = Field(ge=1, le=24 * 60)
    dispatch_every_seconds: int = Field(ge=5, le=3600)


class Dialogues(_Strict):
    """Guided conversations."""

    idle_minutes: int = Field(ge=1, le=24 * 60)


class Promises(_Strict):
    """What a debtor may promise and when a promise counts as broken."""

    max_days_ahead: int = Field(ge=0, le=365)
    min_percent: float = Field(ge=0, le=100)
    grace_days: int = Field(ge=0, le=30)
    broken_to_agent: int = Field(ge=1)


class Plans(_Strict):
    """Repayment plans a debtor may set up alone; others go to review."""

    min_installments: int = Field(ge=2, le=60)
    max_installments: int = Field(ge=2, le=60)
    first_due_in_days: int = Field(ge=0, le=60)
    every_days: int = Field(ge=7, le=62)
    review_answer_days: int = Field(ge=1, le=30)
    remind_days_before: int = Field(ge=0, le=14)
    grace_days: int = Field(ge=0, le=30)
    on_break: Literal["stages", "agent"]

    @model_validator(mode="after")
    def _ordered(self) -> Plans:
        if self.max_installments < self.min_installments:
            raise ValueError("max_installments must not be below min_installments")
        return self


class Hardship(_Strict):
    """Pausing reminders for someone who cannot pay right now."""

    max_pause_days: int = Field(ge=1, le=180)


class BusinessHours(_Strict):
    """When agents answer, in the creditor's time zone."""

    timezone: str
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    end: time

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Handoff(_Strict):
    """Conversations handed to people: the agent queue, claims and console sign-in."""

    sla_minutes: int = Field(ge=1, le=7 * 24 * 60)
    lease_minutes: int = Field(ge=1, le=24 * 60)
    answer_within_minutes: int = Field(ge=1, le=7 * 24 * 60)
    reply_window_minutes: int = Field(ge=0, le=7 * 24 * 60)
    max_failed_logins: int = Field(ge=1, le=100)
    lock_minutes: int = Field(ge=1, le=24 * 60)
    session_idle_minutes: int = Field(ge=1, le=7 * 24 * 60)
    business_hours: BusinessHours


class Policy(_Strict):
    """The whole collection policy."""

    stages: list[Stage] = Field(min_length=1)
    final: Final
    window: Window
    caps: Caps
    non_responders: NonResponders
    holds: Holds
    late_fees: LateFees
    dispatch: Dispatch
    schedule: Schedule
    dialogues: Dialogues
    promises: Promises
    plans: Plans
    hardship: Hardship
    handoff: Handoff

    @model_validator(mode="after")
    def _stages_apart(self) -> Policy:
        ordered = sorted(self.stages, key=lambda s: s.from_dpd)
        names = [s.name for s in ordered]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be unique")
        for before, after in pairwise(ordered):
            if after.from_dpd <= before.to_dpd:
                raise ValueError(f"stages {before.name} and {after.name} overlap")
        if self.final.from_dpd <= ordered[-1].to_dpd:
            raise ValueError("final.from_dpd must come after the last stage")
        return self

    @cached_property
    def earliest_dpd(self) -> int:
        """The first DPD at which any reminder can go out."""
        return min(s.from_dpd for s in self.stages)


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file (the shipped default when ``path`` is None)."""
    source = path or DEFAULT_POLICY
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{source}: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"]) or "(top level)"
        reason = str(err["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PolicyError(f"{source}: {field}: {reason}{more}") from None
