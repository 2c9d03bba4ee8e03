"""Tables. Portable types only: the schema must also work on PostgreSQL.

Datetimes are timezone-aware UTC in Python (`UTCDateTime`); ids of Telegram and clore are
BigInteger. Enumerations (kinds, states, outcomes) are short strings validated by the
repositories, not CHECK constraints, because SQLite batch migrations rebuild tables from
reflection and unnamed CHECKs would be silently lost. Any change here needs a migration:
`tests/db/test_migrations.py` compares these models with the migrated schema.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints: batch migrations on SQLite can only drop/alter what has a name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=64)
def _naive_utc(value: datetime) -> datetime:
    """Cached: a bulk insert binds one timestamp thousands of times, and `replace` costs
    microseconds. Equal aware datetimes are the same instant, so the same result."""
    return value.astimezone(UTC).replace(tzinfo=None)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no offset, so values are normalised to UTC before storage (which also keeps
    its text comparisons, e.g. `expires_at > now`, correct) and tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return _naive_utc(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite the whole chain (to naive UTC, then to text) is cached: a cycle binds
        the same few timestamps tens of thousands of times, and the text formatting alone
        took a tenth of a first cycle."""
        chain = super().bind_processor(dialect)
        if chain is None or dialect.name != "sqlite":
            return chain
        cached = functools.lru_cache(maxsize=256)(chain)

        def process(value: datetime | None) -> Any:
            return None if value is None else cached(value)

        return process


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        # Only the primary key: a row may carry an encrypted key or message text.
        keys = ", ".join(
            f"{col.key}={getattr(self, col.key, None)!r}"
            for col in self.__table__.primary_key.columns  # type: ignore[attr-defined]
        )
        return f"{type(self).__name__}({keys})"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    clore_user_id: Mapped[int | None] = mapped_column(BigInteger)
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    # Set when the stored key cannot be decrypted with the current secret (it changed or
    # was lost): the user was told to /link again. Cleared by /link, /unlink, or a start-up
    # that finds the key readable again (the old secret restored).
    api_key_unreadable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raise_step: Mapped[float | None] = mapped_column(Float)  # None: the configured default
    price_cap: Mapped[float | None] = mapped_column(Float)  # max bid price without confirming
    # Match alerts paused (`/pause`): until `/resume` when `paused_until` is None, else
    # until then. Other kinds of alert are not paused (see `bot.services.alert_prefs`).
    alerts_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # JSON {kind: "on" | "silent" | "off"}; a kind not named is "on"; None: all on.
    alert_modes: Mapped[str | None] = mapped_column(Text)
    # Quiet hours as minutes after midnight in `time_zone` (start may be after end: over
    # midnight); None: no quiet hours. `time_zone`: an IANA name or "UTC+03:00"; None: UTC.
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # "en" or "ru" (bot.i18n.LANGUAGES): from Telegram's language_code on first contact,
    # changed with /lang. None (users from before languages): English.
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False: user blocked the bot
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Rule(Base):
    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("user_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the matcher's rule id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # what the user sees: 1, 2, 3 ... per user
    text: Mapped[str] = mapped_column(Text)  # canonical form, as the rule formatter prints it
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertMemoryRecord(Base):
    """The alert memory (`bot.market.alert_memory`), persisted as a log of compact records.

    A "checkpoint" holds the whole memory as it was after record `upto_id`; a "change" holds
    what one cycle or one rule change altered. The memory is the latest checkpoint plus the
    changes after it, applied in id order. Bodies are `bot.db.alert_codec` bytes.
    """

    __tablename__ = "alert_memory"
    # Ids must never be reused (replay compares them with a checkpoint's upto_id); SQLite
    # reuses the highest rowid after a delete unless told otherwise.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # checkpoint | change
    upto_id: Mapped[int | None] = mapped_column(BigInteger)  # checkpoint: covers ids <= this
    entries: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketBaseline(Base):
    """The snapshot the last committed cycle applied (one row): on start the matcher is
    rebuilt from it, so the next snapshot's transitions are relative to what was committed."""

    __tablename__ = "market_baseline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    snapshot_url: Mapped[str] = mapped_column(Text)
    clore_price: Mapped[float | None] = mapped_column(Float)
    body: Mapped[bytes] = mapped_column(LargeBinary)  # zstd of the snapshot's bytes
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BidAlert(Base):
    """Last known standing of a user's order and the competitor score last alerted about."""

    __tablename__ = "bid_alerts"
    # A cycle looks standings up by the orders whose standing changed.
    __table_args__ = (Index("ix_bid_alerts_order_id", "order_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    server_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # leading | tied | outbid
    last_alerted_top_score: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "sent_at", "failed_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # outbid | match | status | action
    priority: Mapped[int] = mapped_column(Integer)  # lower is sent first
    text: Mapped[str] = mapped_column(Text)
    reply_markup: Mapped[str | None] = mapped_column(Text)  # Bot API JSON, sent as is
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The user's kind of alert (`bot.services.alert_prefs.AlertKind`) whose settings decided
    # this row; None: an answer, not an alert. `silent`: sent with disable_notification.
    alert_kind: Mapped[str | None] = mapped_column(String(16))
    silent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class HeldMatch(Base):
    """A machine a match alert would have listed during the user's quiet hours: delivered
    in one digest when they end, if the rule still matches it then."""

    __tablename__ = "held_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    server_id: Mapped[str] = mapped_column(String(32))
    price: Mapped[float] = mapped_column(Float)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallbackAction(Base):
    """The opaque id behind an inline button and what tapping it means."""

    __tablename__ = "callback_actions"

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    payload: Mapped[str] = mapped_column(Text)  # JSON object; see `payload_data`
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def payload_data(self) -> dict[str, Any]:
        data = json.loads(self.payload)
        return data if isinstance(data, dict) else {}


class AuditEntry(Base):
    """One money-touching action and how it ended; `detail` must never contain a key."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # SET NULL: the record of what was spent outlives the account row.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))  # raise | cancel | create | ...
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    server_id: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[float | None] = mapped_column(Float)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending (recorded before the clore call, not settled yet) | ok | error | ambiguous |
    # rejected
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The snapshot in force when the action was decided: until a newer one is applied, the
    # market data cannot show the action's effect, so this row stands in for it.
    snapshot_url: Mapped[str | None] = mapped_column(Text)


class BotState(Base):
    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OrderTemplate(Base):
    """What a bid placed from an alert runs: one per user, canonical `/template` text.

    Environment values may be secrets: `text` is printed without `env`, and the env lives in
    `env_encrypted` (JSON, encrypted like API keys). A `text` with `env=` is a row from
    before that split; the bot seals it at start-up (`bot.services.templates`).
    """

    __tablename__ = "order_templates"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)  # as `bot.orders.template.format_template` prints
    env_encrypted: Mapped[str | None] = mapped_column(Text)  # None: no environment variables
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BidProtection(Base):
    """Opt-in automatic raises for one order, up to `cap`."""

    __tablename__ = "bid_protections"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    server_id: Mapped[str] = mapped_column(String(32))
    cap: Mapped[float] = mapped_column(Float)  # CLORE/day; no automatic raise above it
    max_raises_per_hour: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # `/protect <order> <cap> power`: lead at the same price by lowering the power limit
    # when that is enough, before raising the price.
    use_power: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class UserBudget(Base):
    """The most automatic raises may add to a user's prices in 24 h (CLORE/day)."""

    __tablename__ = "user_budgets"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    daily_budget: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PendingOrder(Base):
    """An order created from an alert whose id is not known yet (create returns none).

    Resolved when a later snapshot shows a new bid of the user on the server; given up
    (resolved_at set, order_id None) when none shows up in time.
    """

    __tablename__ = "pending_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    server_id: Mapped[str] = mapped_column(String(32))
    price: Mapped[float] = mapped_column(Float)
    action_id: Mapped[str | None] = mapped_column(String(22), unique=True)  # the tapped button
    known_order_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON: bids there before
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderLife(Base):
    """What the bot knows about one tracked order over its life: when it started (clore's
    `ct` from my_orders, else when the bot first saw it), when it ends, whether the user was
    warned, and whether it runs (as far as the snapshot shows) and was told so."""

    __tablename__ = "order_lives"
    # The cycle finds warnings that are due by `warn_at`, and a cycle's orders by id.
    __table_args__ = (
        Index("ix_order_lives_warn_at", "warn_at"),
        Index("ix_order_lives_order_id", "order_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    server_id: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # clore's ct, if known
    max_rental_length: Mapped[int] = mapped_column(Integer)  # seconds, at first sight
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: warned or gone
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    running: Mapped[bool] = mapped_column(Boolean, default=False)  # inferred, see README
    won_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lost_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountWatch(Base):
    """A user's wallet as last read, the low-balance alert's state, and the settings of the
    order-life alerts (None: the defaults)."""

    __tablename__ = "account_watch"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    low_balance_seconds: Mapped[int | None] = mapped_column(Integer)
    expiry_warn_seconds: Mapped[int | None] = mapped_column(Integer)
    wallets: Mapped[str | None] = mapped_column(Text)  # JSON [[name, balance], ...], last good
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last good read
    attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last read, any outcome
    read_error: Mapped[str | None] = mapped_column(Text)  # why the last read failed
    low: Mapped[bool] = mapped_column(Boolean, default=False)  # below the threshold, told


class PriceSeries(Base):
    """One series of the price history: a GPU model with a GPU count (0: every count)."""

    __tablename__ = "price_series"
    __table_args__ = (UniqueConstraint("model", "gpu_count"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    gpu_count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds of its first point


class PricePoint(Base):
    """A series' figures at one snapshot (`span` 0, kept 48 h) or averaged over an hour
    (`span` 3600, kept 180 days; `at` is the hour's start). See `bot.market.history`.

    Compact on purpose (about a million rows at 180 days): integers only, prices per GPU in
    thousandths of a CLORE/day (NULL: no machine available), one index (the primary key)
    and no rowid on SQLite.
    """

    __tablename__ = "price_points"
    __table_args__ = ({"sqlite_with_rowid": False},)

    series_id: Mapped[int] = mapped_column(
        ForeignKey("price_series.id", ondelete="CASCADE"), primary_key=True
    )
    span: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix seconds
    rentable: Mapped[int] = mapped_column(Integer)
    available: Mapped[int] = mapped_column(Integer)
    low: Mapped[int | None] = mapped_column(Integer)
    p25: Mapped[int | None] = mapped_column(Integer)
    median: Mapped[int | None] = mapped_column(Integer)
    p90: Mapped[int | None] = mapped_column(Integer)


class ChangeCounter(Base):
    """How many writes a group of tables has seen, counted by database triggers (migration
    0010): a cache of what those tables hold is current while its count has not moved,
    whoever wrote (this process, another replica, an operator's SQL).

    `watch` counts writes to `rules`, `users` and `order_templates`: what a poll cycle reads
    as the active rules and who can bid from an alert (`bot.services.watch_reads`). Derived
    data: `copy-db` leaves it out (the target's migration and triggers keep their own).
    """

    __tablename__ = "change_counters"
    __table_args__ = ({"info": {"copy": False}},)

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
