"""`gigaspot-bot demo`: the real bot on a simulated market, chatted with in a browser.

Starts, in this process group: the simulated clore API (a generated market that evolves every
`--tick` seconds), the local Bot API server with the chat page, and `gigaspot-bot run` as a
subprocess with a fresh database in a temporary folder. Prints one URL. Ctrl-C (or SIGTERM)
stops the bot, then the servers, and removes the temporary folder.

No token, no key and no money is involved: the two demo users' clore keys are shown on the
page so `/link` works against the simulated market.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bot.simulated.bot_api import BotApiServer
from bot.simulated.clore_api import CloreServer
from bot.simulated.evolution import Evolution, initial_market
from bot.simulated.market import SimulatedMarket

HELP = "Run the bot on a simulated market with a chat page in the browser (no tokens needed)."

BOT_TOKEN = "424242:DEMO-local-bot-api-token"
OPERATOR_KEY = "demo-operator-key"
OPERATOR_CLORE_ID = 1
# (Telegram user id, name, clore key, clore user id, Telegram language): the page's users.
USERS = [
    (1001, "Alice", "demo-clore-key-alice-7Qx2", 4242, "en"),
    (1002, "Bob", "demo-clore-key-bob-9Lm5", 4343, "ru"),  # the bot answers him in Russian
]
COMMANDS = [
    "/start", "/template image=ubuntu pl=min", "/watch gpus>=1", "/watch gpu=4090 price<200",
    "/rules", "/bids", "/history", "/settings",
]
START_BALANCE = 250.0  # CLORE in each demo user's wallet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address of the chat page")
    parser.add_argument("--port", type=int, default=8765,
                        help="port of the chat page (0: any free port)")
    parser.add_argument("--servers", type=int, default=400, help="machines in the market")
    parser.add_argument("--seed", type=int, default=1, help="seed of the market's story")
    parser.add_argument("--tick", type=float, default=3.0,
                        help="seconds between market changes (a new snapshot each)")
    parser.add_argument("--poll", type=float, default=2.0,
                        help="the bot's poll interval in seconds (at least 2)")


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="gigaspot-demo-"))
        self.sim = SimulatedMarket(servers=initial_market(args.servers, args.seed))
        for _, _, _, clore_id, _ in USERS:
            self.sim.set_balance(clore_id, START_BALANCE)
        keys = {OPERATOR_KEY: OPERATOR_CLORE_ID, **{key: cid for _, _, key, cid, _ in USERS}}
        # The bot paces 1 request/s per key; a lenient interval keeps jitter from throttling.
        self.clore = CloreServer(keys=keys, sim=self.sim, interval=0.5, auto_publish=True)
        self.clore.keep_snapshots = 4
        self.evolution = Evolution(self.sim, players={u[3] for u in USERS}, seed=args.seed)
        self.telegram = BotApiServer(BOT_TOKEN, bot_username="gigaspot_demo_bot")
        self.telegram.host, self.telegram.port = args.host, args.port
        self.telegram.page_config = page_config()
        self.stopping = threading.Event()
        self.bot: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.telegram.api_root}/"

    def start(self) -> None:
        self.clore.start()
        try:
            self.telegram.start()
        except OSError as exc:
            raise SystemExit(f"gigaspot-bot demo: port {self.args.port} is taken ({exc.strerror}); "
                             "choose another with --port") from None
        for user_id, name, _, _, language in USERS:
            self.telegram.add_user(user_id, first_name=name, username=name.lower(),
                                   language_code=language)
        threading.Thread(target=self._evolve, name="market", daemon=True).start()
        log = (self.folder / "bot.log").open("ab")
        self.bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=self.folder, env=self._bot_env(),
            stdout=log, stderr=subprocess.STDOUT,
        )

    def _bot_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
        return {
            **env,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": self.telegram.api_root,
            "CLORE_API_TOKEN": OPERATOR_KEY,
            "CLORE_API_URL": self.clore.url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.folder / 'data' / 'bot.db'}",
            "POLL_INTERVAL_SECONDS": str(max(2.0, self.args.poll)),
            "LOG_LEVEL": "INFO",
        }

    def _evolve(self) -> None:
        while not self.stopping.wait(self.args.tick):
            self.evolution.step()
            self.clore.publish()

    def wait(self) -> int:
        """Until a signal or the bot's end; the bot's exit status (0 after a signal)."""
        assert self.bot is not None
        while not self.stopping.is_set():
            if self.bot.poll() == 0:  # the terminal's Ctrl-C reached it first
                return 0
            if self.bot.poll() is not None:
                tail = (self.folder / "bot.log").read_text(errors="replace")[-3000:]
                print(f"gigaspot-bot demo: the bot stopped (status {self.bot.returncode}):\n"
                      f"{tail}", file=sys.stderr)
                return self.bot.returncode or 1
            self.stopping.wait(0.5)
        return 0

    def stop(self) -> None:
        self.stopping.set()
        if self.bot is not None and self.bot.poll() is None:
            self.bot.send_signal(signal.SIGTERM)  # it may have had the terminal's SIGINT too
            try:
                self.bot.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.bot.kill()
                self.bot.wait()
        self.telegram.stop()
        self.clore.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def page_config() -> dict[str, Any]:
    return {
        "users": [{"id": uid, "name": name, "clore_key": key, "clore_id": cid, "language": lang}
                  for uid, name, key, cid, lang in USERS],
        "commands": COMMANDS,
    }


def main(args: argparse.Namespace) -> int:
    demo = Demo(args)
    stop = demo.stopping.set

    def on_signal(signum: int, frame: object) -> None:
        stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        demo.start()
        print(f"GigaSPOT Watch demo: open {demo.url}  (Ctrl-C stops it)", flush=True)
        status = demo.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        demo.stop()
    print("demo stopped", flush=True)
    return status
