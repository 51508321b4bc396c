"""Flood control and fault injection for the sandbox Bot API server."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RateLimits:
    """Token-bucket limits like Telegram's: about 30 messages/s per bot, 1/s per chat."""

    global_per_second: float = 30.0
    global_burst: float = 30.0
    chat_per_second: float = 1.0
    # Telegram lets a chat receive a short burst before it starts answering 429.
    chat_burst: float = 3.0
    enabled: bool = True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RateLimits:
        """Build limits from a JSON object, keeping defaults for missing keys."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        """Return the limits as a JSON object."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class TokenBucket:
    """A bucket refilled at `rate` tokens per second up to `capacity`."""

    rate: float
    capacity: float
    tokens: float = -1.0
    updated_at: float = 0.0

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last look."""
        if self.tokens < 0:
            self.tokens = self.capacity
        else:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated_at) * self.rate)
        self.updated_at = now

    def wait_time(self, now: float) -> float:
        """Return seconds until one token is available (0 when one is available now)."""
        self.refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else math.inf

    def take(self) -> None:
        """Spend one token; call only after wait_time() returned 0."""
        self.tokens -= 1


class FloodControl:
    """Per-bot global and per-chat buckets; answers how long a sender must wait."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.global_bucket = TokenBucket(limits.global_per_second, limits.global_burst)
        self.chat_buckets: dict[int, TokenBucket] = {}

    def acquire(self, chat_id: int, now: float) -> int:
        """Take a send slot and return 0, or return the whole seconds to wait (at least 1)."""
        if not self.limits.enabled:
            return 0
        chat = self.chat_buckets.get(chat_id)
        if chat is None:
            chat = TokenBucket(self.limits.chat_per_second, self.limits.chat_burst)
            self.chat_buckets[chat_id] = chat
        wait = max(self.global_bucket.wait_time(now), chat.wait_time(now))
        if wait > 0:
            return max(1, math.ceil(wait)) if math.isfinite(wait) else 3600
        self.global_bucket.take()
        chat.take()
        return 0


@dataclass
class Fault:
    """One injected fault; `remaining` None means until cleared."""

    kind: str  # "server_error" or "slow"
    chat_id: int | None = None
    methods: frozenset[str] | None = None
    remaining: int | None = None
    status: int = 502
    seconds: float = 0.0

    def matches(self, method: str, chat_id: int | None) -> bool:
        """Tell whether this fault applies to a call of `method` aimed at `chat_id`."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.methods is not None and method.lower() not in self.methods:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def to_json(self) -> dict[str, Any]:
        """Return the fault as a JSON object."""
        data: dict[str, Any] = {"kind": self.kind, "chat_id": self.chat_id}
        data["methods"] = sorted(self.methods) if self.methods is not None else None
        data["remaining"] = self.remaining
        if self.kind == "server_error":
            data["status"] = self.status
        else:
            data["seconds"] = self.seconds
        return data


@dataclass
class FaultPlan:
    """The faults active on one bot, applied in the order they were injected."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        """Activate a fault."""
        if fault.methods is not None:
            fault.methods = frozenset(m.lower() for m in fault.methods)
        self.faults.append(fault)

    def clear(self, chat_id: int | None = None) -> None:
        """Drop all faults, or only those aimed at one chat."""
        if chat_id is None:
            self.faults.clear()
        else:
            self.faults = [f for f in self.faults if f.chat_id != chat_id]

    def take(self, kind: str, method: str, chat_id: int | None) -> Fault | None:
        """Return the first matching fault of a kind, using up one of its occurrences."""
        for fault in self.faults:
            if fault.kind == kind and fault.matches(method, chat_id):
                if fault.remaining is not None:
                    fault.remaining -= 1
                self.faults = [f for f in self.faults if f.remaining is None or f.remaining > 0]
                return fault
        return None
