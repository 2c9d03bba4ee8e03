"""Runs the real `gigaspot-bot run` process against the fake Telegram and Clore servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fakes.clore_server import FakeClore
from tests.fakes.telegram_server import FakeTelegram

OPERATOR_KEY = "operator-key"


class BotProcess:
    def __init__(self, workdir: Path, telegram: FakeTelegram, clore: FakeClore, **env: str):
        self.workdir = workdir
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(workdir)),
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.api_root,
            "CLORE_API_TOKEN": OPERATOR_KEY,
            "CLORE_API_URL": clore.url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'data' / 'bot.db'}",
            "POLL_INTERVAL_SECONDS": "2",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.log_path = workdir / "bot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, umask: int = -1) -> BotProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            umask=umask,
        )
        return self

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
