"""Settings: defaults, .env, and one clear line for each missing or invalid value."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.settings import SettingsError, load_settings


def test_defaults_run_offline_on_sqlite(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./nudgebot.db"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert (settings.default_locale, settings.default_timezone) == ("en", "UTC")


def test_env_file_and_prefix_are_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "NUDGEBOT_DEFAULT_LOCALE=zh-cn\nNUDGEBOT_TELEGRAM_API_URL=http://127.0.0.1:8081/\n"
    )
    monkeypatch.setenv("NUDGEBOT_WEB_PORT", "9000")
    settings = load_settings()
    assert (settings.default_locale, settings.telegram_api_url, settings.web_port) == (
        "zh_CN",
        "http://127.0.0.1:8081",
        9000,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_PORT", "eighty", "NUDGEBOT_WEB_PORT: Input should be a valid integer"),
        ("WEB_PORT", "70000", "NUDGEBOT_WEB_PORT: Input should be less than or equal to 65535"),
        ("DEFAULT_TIMEZONE", "Mars/Base", "NUDGEBOT_DEFAULT_TIMEZONE: 'Mars/Base' is not an IANA"),
        ("DEFAULT_LOCALE", "klingon", "NUDGEBOT_DEFAULT_LOCALE: klingon is not a locale Babel"),
        ("DATABASE_URL", "mysql://x", "NUDGEBOT_DATABASE_URL: must start with sqlite+aiosqlite"),
        ("TELEGRAM_API_URL", "ftp://x", "NUDGEBOT_TELEGRAM_API_URL: must be an http:// or"),
        ("PAYMENT_URL_TEMPLATE", "https://pay", "NUDGEBOT_PAYMENT_URL_TEMPLATE: must contain"),
        ("POLICY_FILE", "/no/such.toml", "NUDGEBOT_POLICY_FILE: file /no/such.toml does not"),
        ("DEFAULT_REGION", "XX", "NUDGEBOT_DEFAULT_REGION: 'XX' is not a two-letter region"),
    ],
)
def test_invalid_value_names_the_variable(monkeypatch, tmp_path, name, value, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"NUDGEBOT_{name}", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_missing_required_setting_is_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as caught:
        load_settings().require("bot_token")
    assert str(caught.value) == "NUDGEBOT_BOT_TOKEN is not set: it is required here"


def test_cli_prints_the_line_and_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUDGEBOT_DEFAULT_TIMEZONE", "Nowhere/City")
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "nudgebot: NUDGEBOT_DEFAULT_TIMEZONE: 'Nowhere/City' is not an IANA time zone\n"
    )


def test_secrets_do_not_show_in_repr(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUDGEBOT_BOT_TOKEN", "123456:very-secret-token")
    monkeypatch.setenv("NUDGEBOT_API_KEY", "key-abc-123")
    settings = load_settings()
    assert "very-secret" not in repr(settings)
    assert "key-abc" not in repr(settings)
    assert settings.bot_token.get_secret_value() == "123456:very-secret-token"
