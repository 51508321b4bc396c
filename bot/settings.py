"""Typed settings from the environment (prefix ``NUDGEBOT_``) and an optional ``.env`` file."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.i18n import normalise_locale

ENV_PREFIX = "NUDGEBOT_"
TELEGRAM_API_ROOT = "https://api.telegram.org"


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Every knob of one nudgebot process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./nudgebot.db"
    bot_token: SecretStr | None = None
    telegram_api_url: str = TELEGRAM_API_ROOT
    policy_file: Path | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    default_locale: str = "en"
    default_timezone: str = "UTC"
    default_region: str = "US"
    creditor_name: str = "Your creditor"
    payment_url_template: str = "https://pay.example/{account_ref}"
    api_key: SecretStr | None = None
    link_token_ttl_days: int = Field(default=30, ge=1)
    # Behind a TLS-terminating proxy the request looks like plain http: say so here.
    console_secure_cookies: bool = False
    # GET /metrics asks for "Authorization: Bearer <this>" when set.
    metrics_token: SecretStr | None = None
    # "json": one JSON object a line (for log collectors); "text" for people.
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", value):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(nudgebot uses async drivers)"
            )
        return value

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("policy_file")
    @classmethod
    def _policy_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        return normalise_locale(value)

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a two-letter region phonenumbers knows")
        return value

    @field_validator("payment_url_template")
    @classmethod
    def _payment_placeholder(cls, value: str) -> str:
        if "{account_ref}" not in value:
            raise ValueError("must contain the placeholder {account_ref}")
        return value

    def require(self, *names: str) -> None:
        """Fail with one clear line if any of these settings is unset."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} is not set: it is required here")


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ENV_PREFIX + str(err["loc"][0]).upper() if err["loc"] else ENV_PREFIX
            reason = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {reason}")
        raise SettingsError("; ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
