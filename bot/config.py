"""Settings from the environment or `.env`, validated once at start-up.

`load_settings()` is the only entry point the app needs: it raises `ConfigError` with a
message meant for the operator (which variables to set, which values are wrong), never a
pydantic traceback and never a secret's value. `load_database_settings()` reads only
`DATABASE_URL`, so `gigaspot-bot migrate` works without the Telegram and clore tokens.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.files import make_private_folder

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/gigaspot-bot.db"


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to change."""


def sqlite_file_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL, or None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_parent(database_url: str) -> None:
    """Create the folder of a SQLite database file (0700), so the first run needs no `mkdir`."""
    path = sqlite_file_path(database_url)
    if path is not None:
        make_private_folder(path.parent)


def _masked_url(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by validation, not by repr
        return "<unparsable>"


class DatabaseSettings(BaseSettings):
    """The part of the settings that the `migrate` command needs."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        # `.env.example` copied as is leaves `TELEGRAM_BOT_TOKEN=`: that is "not set".
        env_ignore_empty=True,
        extra="ignore",
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL; a relative SQLite path is relative to the working "
        "directory, and its folder is created when missing.",
    )

    @field_validator("database_url")
    @classmethod
    def _parsable_url(cls, value: str) -> str:
        try:
            make_url(value)
        except Exception as exc:
            raise ValueError("is not a SQLAlchemy database URL") from exc
        ensure_sqlite_parent(value)
        return value

    @property
    def data_dir(self) -> Path:
        """Where local state lives: the SQLite file's folder, else `./data`."""
        path = sqlite_file_path(self.database_url)
        return path.parent if path is not None else Path("data")

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, _masked_url(value) if name == "database_url" else value


class Settings(DatabaseSettings):
    """Everything the bot reads from its environment."""

    telegram_bot_token: SecretStr = Field(description="The bot's token from @BotFather.")
    telegram_api_url: str = Field(
        "https://api.telegram.org", description="Bot API root: calls go to {root}/bot{token}/."
    )
    clore_api_token: SecretStr = Field(
        description="Operator's clore.ai API key, used only to fetch the market snapshot."
    )
    clore_api_url: str = Field("https://api.clore.ai", description="clore.ai API root.")
    poll_interval_seconds: float = Field(
        30, ge=2, description="Seconds between polls of get_gigaspot (clore allows 1 req/s)."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key encrypting stored API keys; when unset, data/secret.key is "
        "generated on first run.",
    )
    allowed_telegram_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(),
        description="Comma-separated Telegram user ids allowed to use the bot; empty = everyone.",
    )
    stale_after_seconds: float = Field(
        300, gt=0, description="Market data older than this is announced as stale."
    )
    realert_after_seconds: float = Field(
        3600,
        ge=0,
        description="A rule x server that stopped matching is announced again only after "
        "this long.",
    )
    realert_price_drop: float = Field(
        0.2,
        ge=0,
        le=1,
        description="... or sooner when its price to win fell by this share of the price "
        "last announced (0.2 = 20%).",
    )
    max_matches_per_message: int = Field(
        10, ge=1, description="Matches listed in one alert message; the rest are summarised."
    )
    default_raise_step: float = Field(
        0.5, gt=0, description="CLORE/day added above the best competitor when raising a bid."
    )
    outbox_give_up_after_seconds: float = Field(
        86400,
        gt=0,
        description="A queued message that Telegram could not take for this long (outage, "
        "flood control) is given up and logged.",
    )
    snapshot_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="A larger snapshot download is refused."
    )
    log_level: str = Field("INFO", description="Python logging level name.")
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per log line."
    )
    telegram_webhook_url: str | None = Field(
        None,
        description="Public HTTPS URL Telegram posts updates to; set: webhook mode on every "
        "replica instead of long polling.",
    )
    webhook_listen: str = Field("0.0.0.0", description="Address the webhook server binds.")
    webhook_port: int = Field(8443, ge=1, le=65535, description="Port of the webhook server.")
    webhook_secret: SecretStr | None = Field(
        None,
        repr=False,
        description="Secret token Telegram sends in every webhook request (1-256 of A-Z a-z "
        "0-9 _ -); required in webhook mode.",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve /metrics and /healthz on this port."
    )
    metrics_listen: str = Field("0.0.0.0", description="Address the metrics server binds.")
    log_file: Path | None = Field(
        None, description="Append the log to this file (created 0600) instead of stderr."
    )

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = None if value is None else value.get_secret_value()
        if token is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", token):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and self.webhook_secret is None:
            raise ValueError(
                "WEBHOOK_SECRET must be set when TELEGRAM_WEBHOOK_URL is (updates without it "
                "are refused)"
            )
        return self

    @field_validator("allowed_telegram_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            if not all(part.lstrip("-").isdigit() for part in parts if part):
                raise ValueError("must be comma-separated Telegram user ids (integers)")
            return frozenset(int(part) for part in parts if part)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if not isinstance(logging.getLevelNamesMapping().get(level), int):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("telegram_api_url", "clore_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


def _env_name(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]).upper() if loc else "settings"


def _config_error(error: ValidationError) -> ConfigError:
    missing = sorted({_env_name(e["loc"]) for e in error.errors() if e["type"] == "missing"})
    # Messages only, never `input`: the input may be a token.
    invalid = [
        f"  {_env_name(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
        if e["type"] != "missing"
    ]
    lines = ["Configuration error."]
    if missing:
        lines.append("Set these environment variables (or put them in .env):")
        lines += [f"  {name}" for name in missing]
    if invalid:
        lines.append("Fix these values:")
        lines += invalid
    return ConfigError("\n".join(lines))


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; `overrides` (field names) win over the environment."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise _config_error(error) from None


def load_database_settings(**overrides: Any) -> DatabaseSettings:
    try:
        return DatabaseSettings(**overrides)
    except ValidationError as error:
        raise _config_error(error) from None
