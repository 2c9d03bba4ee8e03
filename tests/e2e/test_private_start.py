"""The real `gigaspot-bot run` process: private files whatever the umask, and a malformed
secret key stopping it at start with one line."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bot_process import OPERATOR_KEY, BotProcess
from tests.fakes.clore_server import FakeClore
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeClore]]:
    with FakeTelegram() as telegram, FakeClore(keys={OPERATOR_KEY: 1}) as clore:
        yield telegram, clore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private_whatever_the_umask(
    fakes: tuple[FakeTelegram, FakeClore], tmp_path: Path
) -> None:
    telegram, clore = fakes
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "bot.db").touch()  # left by an earlier version, world-readable
    (data / "bot.db").chmod(0o644)
    (tmp_path / "bot.log").touch()
    (tmp_path / "bot.log").chmod(0o644)
    private_log = tmp_path / "logs" / "gigaspot.log"
    bot = BotProcess(tmp_path, telegram, clore, LOG_FILE=str(private_log)).start(umask=0o022)
    try:
        telegram.wait_for_request("setMyCommands", timeout=30)
        clore.wait_for_calls(1, "get_gigaspot", timeout=20)
        telegram.user_message(5001, "/watch gpu=4090")
        telegram.wait_for_bot_message(5001, where=lambda m: "saved" in m.text, timeout=15)

        assert mode(data) == 0o700
        for name in ("bot.db", "bot.db-wal", "bot.db-shm", "secret.key"):
            assert mode(data / name) == 0o600, name
        assert mode(tmp_path / "bot.log") == 0o600  # where the operator sent stdout
        assert mode(private_log) == 0o600 and "running; polling clore" in private_log.read_text()
        assert mode(private_log.parent) == 0o700
    finally:
        assert bot.stop() == 0


@pytest.mark.parametrize(
    ("env", "key_file", "named"),
    [
        ({"SECRET_KEY": "not-a-fernet-key"}, None, "SECRET_KEY is not a valid Fernet key"),
        ({}, b"garbage\n", "secret.key is not a valid Fernet key"),
        ({}, b"", "secret.key is not a valid Fernet key"),
        ({}, b"\xff\xfe" * 22, "secret.key is not a valid Fernet key"),
        ({}, "directory", "secret.key cannot be read"),
    ],
)
def test_a_malformed_secret_key_stops_the_bot_with_one_line(
    fakes: tuple[FakeTelegram, FakeClore], tmp_path: Path, env: dict[str, str],
    key_file: bytes | str | None, named: str,
) -> None:
    telegram, clore = fakes
    path = tmp_path / "data" / "secret.key"
    path.parent.mkdir()
    if key_file == "directory":
        path.mkdir()
    elif isinstance(key_file, bytes):
        path.write_bytes(key_file)
        path.chmod(0o600)
    bot = BotProcess(tmp_path, telegram, clore, **env).start()
    assert bot.process is not None
    status = bot.process.wait(timeout=30)

    lines = bot.log().splitlines()
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("gigaspot-bot: ") and named in lines[0]
    assert "Traceback" not in bot.log() and "not-a-fernet-key" not in bot.log()
    assert not (tmp_path / "data" / "bot.db").exists()  # stopped before the database
    assert telegram.requests() == []
