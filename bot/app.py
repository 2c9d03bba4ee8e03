"""The composition root: settings -> database -> clore client -> market -> Telegram.

`gigaspot-bot run` starts here. Nothing else builds long-lived objects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telegram.error import TelegramError
from telegram.ext import Application

from bot import runtime
from bot.clore.client import CloreClient
from bot.clore.fetcher import SnapshotFetcher
from bot.config import ConfigError, Settings, load_settings
from bot.db.engine import checkpoint, create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.files import open_private_log, restrict_umask, secure_redirected_output
from bot.poller import Poller
from bot.secrets import KeyBox, load_or_create_secret
from bot.sender import Sender
from bot.services import accounts, alert_state, money, templates
from bot.services.context import ServiceContext
from bot.services.cycle import Cycle
from bot.services.market_state import MarketState
from bot.telegram import handlers
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
        configure_logging(settings.log_level, settings.log_file)
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


def configure_logging(level: str, log_file: Path | None = None) -> None:
    handlers: list[logging.Handler] | None = None
    if log_file is not None:
        try:
            handlers = [open_private_log(log_file)]
        except OSError as exc:
            raise ConfigError(f"LOG_FILE {log_file} cannot be opened ({exc.strerror})") from None
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Running:
    """The long-lived objects of a running bot, handed to `serve`'s `on_start` (tests)."""

    ctx: ServiceContext
    poller: Poller
    sender: Sender
    application: Application


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
    await upgrade_to_head(settings.database_url)
    engine = create_engine(settings.database_url)
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
    sender = Sender(ctx, delivery)
    ctx.kick_sender = sender.kick
    fetcher = SnapshotFetcher(
        clore,
        settings.clore_api_token.get_secret_value(),
        max_bytes=settings.snapshot_max_bytes,
        stale_after=settings.stale_after_seconds,
        clock=lambda: ctx.clock().timestamp(),  # the services' clock, which tests move
    )
    poller = Poller(fetcher, Cycle(ctx), settings.poll_interval_seconds)
    application.bot_data.update(services=ctx, delivery=delivery)
    handlers.register(application)
    if await templates.seal_plain_environments(ctx):
        await checkpoint(engine)  # old WAL frames held the plain values
    await accounts.check_stored_keys(ctx)
    await accounts.refresh_owners(ctx)
    restored = await alert_state.restore(ctx)
    runtime.settle()
    if restored.snapshot_url is not None and ctx.market.snapshot is not None:
        fetcher.seed(ctx.market.snapshot, restored.snapshot_url, ctx.market.clore_price)
    log.info(
        "alert memory restored: %d entries; baseline %s",
        restored.entries,
        "loaded" if restored.snapshot_url else "none",
    )
    await money.recover(ctx)  # money actions the last stop cut short: never repeated
    try:
        async with application:
            try:
                await application.bot.set_my_commands(handlers.bot_commands())
            except TelegramError as exc:
                log.warning("setMyCommands failed: %s", exc)
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=["message", "callback_query"])
            tasks = [
                asyncio.create_task(loop())
                for loop, wanted in (
                    (poller.run, poll_in_background),
                    (sender.run, send_in_background),
                )
                if wanted
            ]
            if on_start is not None:
                on_start(Running(ctx, poller, sender, application))
            log.info("running; polling clore every %ss", settings.poll_interval_seconds)
            await stop.wait()
            log.info("stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await application.updater.stop()
            await application.stop()
    finally:
        await clore.aclose()
        await engine.dispose()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
