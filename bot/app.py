"""The composition root: settings -> database -> clore client -> market -> Telegram.

`gigaspot-bot run` starts here. Nothing else builds long-lived objects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import TelegramError
from telegram.ext import Application

from bot import runtime
from bot.clore.client import CloreClient
from bot.clore.fetcher import SnapshotFetcher
from bot.config import ConfigError, Settings, load_settings, sqlite_file_path
from bot.db.engine import checkpoint, create_engine, fenced, session_factory
from bot.db.migrate import upgrade_to_head
from bot.files import open_private_log, restrict_umask, secure_redirected_output
from bot.metrics import Operations, serve_http
from bot.poller import Poller
from bot.replicas import Leadership, ReplicaSync, SharedMoneyLocks, leadership_for
from bot.secrets import KeyBox, load_or_create_secret
from bot.sender import Sender
from bot.services import accounts, alert_state, money, templates
from bot.services.context import ServiceContext
from bot.services.cycle import Cycle
from bot.services.market_state import MarketState
from bot.services.wallets import WalletWatch
from bot.telegram import handlers, insight_handlers
from bot.telegram.delivery import Delivery, Pacing

log = logging.getLogger("bot")

HELP = "Run the bot: poll clore.ai, send alerts, answer Telegram."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # configuration comes from the environment and .env


def main(args: argparse.Namespace) -> int:
    # Before anything is created: the database, its WAL, secret.key and the log are the
    # bot's alone whatever umask it was started with.
    restrict_umask()
    secure_redirected_output()
    runtime.tune()
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_file, settings.log_format)
        asyncio.run(serve(settings))
    except ConfigError as exc:  # also a malformed SECRET_KEY or key file, found by serve()
        print(f"gigaspot-bot: {exc}", file=sys.stderr)
        return 2
    return 0


# Their request lines carry URLs with the bot token in them; at DEBUG, PTB's bot and
# application log every update whole, and a /link message carries a user's API key.
NOISY_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.ext.Updater",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def configure_logging(level: str, log_file: Path | None = None, log_format: str = "text") -> None:
    handler: logging.Handler
    if log_file is not None:
        try:
            handler = open_private_log(log_file)
        except OSError as exc:
            raise ConfigError(f"LOG_FILE {log_file} cannot be opened ({exc.strerror})") from None
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Running:
    """The long-lived objects of a running bot, handed to `serve`'s `on_start` (tests)."""

    ctx: ServiceContext
    poller: Poller
    sender: Sender
    application: Application[Any, Any, Any, Any, Any, Any]
    wallets: WalletWatch | None = None  # the linked accounts' wallets, read every 10 min


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    on_start: Callable[[Running], None] | None = None,
    clore_interval: float = 1.0,
    pacing: Pacing | None = None,
    poll_in_background: bool = True,
    send_in_background: bool = True,
) -> None:
    """Run until `stop` is set (SIGINT/SIGTERM by default).

    The keyword arguments exist for in-process tests: a fake clore's pacing, Telegram
    pacing, and driving cycles / outbox drains by hand instead of on timers.
    """
    stop = stop or _stop_on_signals()
    # First: a malformed key stops the bot (SecretKeyError) before the database is touched.
    keybox = KeyBox(load_or_create_secret(settings, settings.data_dir))
    engine = create_engine(settings.database_url)
    role = leadership_for(
        engine, sqlite_file_path(settings.database_url), settings.poll_interval_seconds
    )
    try:
        role.claim()  # SQLite: a second process stops here, before anything is written
        await _serve(
            settings, stop, engine, keybox, role, on_start=on_start,
            clore_interval=clore_interval, pacing=pacing,
            poll_in_background=poll_in_background, send_in_background=send_in_background,
        )  # fmt: skip
    finally:
        await role.close()
        await engine.dispose()


async def _serve(
    settings: Settings,
    stop: asyncio.Event,
    engine: AsyncEngine,
    keybox: KeyBox,
    role: Leadership,
    *,
    on_start: Callable[[Running], None] | None,
    clore_interval: float,
    pacing: Pacing | None,
    poll_in_background: bool,
    send_in_background: bool,
) -> None:
    await upgrade_to_head(settings.database_url)
    clore = CloreClient(settings.clore_api_url, interval=clore_interval)
    application = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{settings.telegram_api_url}/bot")
        .concurrent_updates(16)
        .build()
    )
    delivery = Delivery(application.bot, pacing)
    ctx = ServiceContext(
        settings=settings,
        sessions=session_factory(engine),
        reads=session_factory(engine, read_only=True),
        keybox=keybox,
        clore=clore,
        market=MarketState(),
    )
    if role.shared:
        ctx.money_locks = SharedMoneyLocks(engine)
    sender = Sender(ctx, delivery)
    ctx.kick_sender = sender.kick if not role.shared else lambda: None
    fetcher = SnapshotFetcher(
        clore,
        settings.clore_api_token.get_secret_value(),
        max_bytes=settings.snapshot_max_bytes,
        stale_after=settings.stale_after_seconds,
        clock=lambda: ctx.clock().timestamp(),  # the services' clock, which tests move
    )
    sync = ReplicaSync(ctx) if role.shared else None
    poller = Poller(
        fetcher,
        Cycle(ctx),
        settings.poll_interval_seconds,
        before_cycle=None if sync is None else lambda: sync.catch_up(baseline=False),
    )
    wallet_watch = WalletWatch(ctx)
    application.bot_data.update(services=ctx, delivery=delivery)
    insight_handlers.register(application)  # before handlers' catch-all for unknown text
    handlers.register(application)
    if await templates.seal_plain_environments(ctx):
        await checkpoint(engine)  # old WAL frames held the plain values
    await accounts.check_stored_keys(ctx)
    if sync is not None:
        await sync.start()
    restored = await alert_state.restore(ctx, accounts.register_at_start(ctx))
    runtime.settle()
    if restored.snapshot_url is not None and ctx.market.snapshot is not None:
        fetcher.seed(ctx.market.snapshot, restored.snapshot_url, ctx.market.clore_price)
    log.info(
        "alert memory restored: %d entries; baseline %s",
        restored.entries,
        "loaded" if restored.snapshot_url else "none",
    )
    # Money actions the last stop cut short: never repeated. With replicas, only when no
    # other one runs (this one leads at once): a pending intent may be another's in flight.
    if await role.try_acquire():
        await money.recover(ctx)
    else:
        log.info("another replica leads: pending money actions are left to it")
    try:
        async with application:
            try:
                await handlers.register_commands(application.bot)
            except TelegramError as exc:
                log.warning("setMyCommands failed: %s", exc)
            await application.start()
            assert application.updater is not None
            if settings.telegram_webhook_url:  # every replica serves the webhook
                await start_webhook(application, settings)
            roles = Roles(role, ctx, poller, fetcher, sync, lambda: Sender(ctx, delivery),
                          application if not settings.telegram_webhook_url else None,
                          sender, wallet_watch)  # fmt: skip
            tasks = [asyncio.create_task(roles.lead(sender, poll_in_background,
                                                    send_in_background))]  # fmt: skip
            if sync is not None:
                tasks.append(asyncio.create_task(roles.follow(settings.poll_interval_seconds)))
            metrics_server = None
            if settings.metrics_port is not None:
                ops = Operations(ctx, poller, role, lambda: roles.sender, roles.delivering)
                tasks.append(asyncio.create_task(ops.run()))
                metrics_server = await serve_http(
                    ops, settings.metrics_listen, settings.metrics_port
                )
                log.info("metrics on %s:%s", settings.metrics_listen, settings.metrics_port)
            if on_start is not None:
                on_start(Running(ctx, poller, sender, application, wallet_watch))
            log.info("running; polling clore every %ss", settings.poll_interval_seconds)
            await stop.wait()
            log.info("stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if metrics_server is not None:
                metrics_server.close()
            if application.updater.running:
                await application.updater.stop()
            await application.stop()
    finally:
        await clore.aclose()


ALLOWED_UPDATES = ["message", "callback_query"]


async def start_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """PTB's webhook server; it refuses (403) a post without the secret token header."""
    assert application.updater is not None and settings.telegram_webhook_url
    assert settings.webhook_secret is not None  # the settings insist on it
    await application.updater.start_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=urlsplit(settings.telegram_webhook_url).path.lstrip("/"),
        webhook_url=settings.telegram_webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info("webhook server on %s:%s", settings.webhook_listen, settings.webhook_port)


OUTBOX_LOOK_EVERY = 1.0  # seconds: a leader picks up rows other replicas queued


@dataclass
class Roles:
    """Leading (poll clore, deliver the outbox) and following (keep the market current),
    switching as the leader lock comes and goes (`bot.replicas`)."""

    role: Leadership
    ctx: ServiceContext
    poller: Poller
    fetcher: SnapshotFetcher
    sync: ReplicaSync | None
    new_sender: Callable[[], Sender]
    # Long polling: Telegram gives updates to one getUpdates caller, so the leader polls.
    polling: Application[Any, Any, Any, Any, Any, Any] | None
    sender: Sender  # the current one (a new one each time this replica leads again)
    wallet_watch: WalletWatch | None = None  # reads wallets and warns; the leader's job
    switch: asyncio.Lock = field(default_factory=asyncio.Lock)
    _sending: asyncio.Task[None] | None = None

    def delivering(self) -> bool:
        return self._sending is not None and not self._sending.done()

    async def lead(self, sender: Sender, poll: bool, send: bool) -> None:
        first = True
        while True:
            await self.role.acquire()
            async with self.switch:
                if not first:
                    sender = self.sender = self.new_sender()
                if self.sync is not None:
                    log.info("this replica leads now: it polls clore and delivers the outbox")
                    await self._take_over()
                self.ctx.kick_sender = sender.kick
                if self.polling is not None and self.polling.updater is not None:
                    await self.polling.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
                with fenced(self.role.pid):  # tasks created here carry the fence
                    work = [asyncio.create_task(sender.run())] if send else []
                    self._sending = work[0] if work else None
                    if poll:
                        work.append(asyncio.create_task(self.poller.run()))
                        if self.wallet_watch is not None:
                            work.append(asyncio.create_task(self.wallet_watch.run()))
                    if send and self.sync is not None:
                        work.append(asyncio.create_task(_look_at_outbox(sender)))
            lost = asyncio.create_task(self.role.lost())
            try:
                await asyncio.wait({lost, *work}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (lost, *work):
                    task.cancel()
                await asyncio.gather(lost, *work, return_exceptions=True)
                self.ctx.kick_sender = lambda: None
                updater = self.polling.updater if self.polling is not None else None
                if updater is not None and updater.running:
                    await updater.stop()
            log.warning("this replica lost the leader lock; it follows again")
            first = False

    async def _take_over(self) -> None:
        """What the last leader committed becomes this process's starting point."""
        assert self.sync is not None
        await self.sync.catch_up(baseline=True)
        market = self.ctx.market
        if market.snapshot is not None and market.snapshot_url is not None:
            self.fetcher.seed(market.snapshot, market.snapshot_url, market.clore_price)

    async def follow(self, interval: float) -> None:
        assert self.sync is not None
        while True:
            await asyncio.sleep(interval)
            async with self.switch:
                if self.role.leading:
                    continue
                try:
                    await self.sync.catch_up(baseline=True)
                except Exception as exc:
                    log.warning("catching up with the leader failed: %s: %s",
                                type(exc).__name__, exc)  # fmt: skip


async def _look_at_outbox(sender: Sender) -> None:
    while True:
        await asyncio.sleep(OUTBOX_LOOK_EVERY)
        sender.kick()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
