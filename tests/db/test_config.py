from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_database_settings, load_settings

ALL_VARS = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "CLORE_API_TOKEN",
    "CLORE_API_URL",
    "DATABASE_URL",
    "POLL_INTERVAL_SECONDS",
    "SECRET_KEY",
    "ALLOWED_TELEGRAM_IDS",
    "LOG_LEVEL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env, and data/ lands in tmp


def _missing_section(message: str) -> list[str]:
    lines = message.splitlines()
    start = lines.index("Set these environment variables (or put them in .env):") + 1
    return [line.strip() for line in lines[start:] if line.startswith("  ")]


def test_missing_required_variables_are_listed_exactly() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert _missing_section(str(caught.value)) == ["CLORE_API_TOKEN", "TELEGRAM_BOT_TOKEN"]


def test_empty_value_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("CLORE_API_TOKEN", "")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert _missing_section(str(caught.value)) == ["CLORE_API_TOKEN"]


def test_reads_dotenv_and_defaults(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nCLORE_API_TOKEN=clore-secret\nALLOWED_TELEGRAM_IDS=5, 7,\n"
    )
    settings = load_settings()
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert settings.allowed_telegram_ids == frozenset({5, 7})
    assert settings.poll_interval_seconds == 30
    assert settings.database_url == "sqlite+aiosqlite:///data/gigaspot-bot.db"
    assert settings.secret_key is None
    assert (tmp_path / "data").is_dir()  # the default SQLite folder is created
    assert settings.data_dir == Path("data")


def test_invalid_values_are_named_without_echoing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:tg-secret")
    monkeypatch.setenv("CLORE_API_TOKEN", "clore-secret")
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("ALLOWED_TELEGRAM_IDS", "12,abc")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "POLL_INTERVAL_SECONDS" in message
    assert "ALLOWED_TELEGRAM_IDS" in message
    assert "Set these environment variables" not in message
    assert "secret" not in message


def test_repr_hides_secrets_and_database_password() -> None:
    settings = load_settings(
        telegram_bot_token="123:tg-secret",
        clore_api_token="clore-secret",
        secret_key="fernet-secret",
        database_url="postgresql+asyncpg://bot:db-secret@db.example/bot",
    )
    for text in (repr(settings), str(settings), f"{settings}"):
        assert "secret" not in text.replace("secret_key", "")
    assert "db.example" in repr(settings)


def test_database_settings_need_no_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'x.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_database_settings().database_url == url
    assert (tmp_path / "nested").is_dir()
