"""bot.files: the database, its side files, the log and their folder are private whatever
the umask; a shared folder is left alone."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db.engine import create_engine
from bot.files import open_private_log, secure_database_files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    previous = os.umask(0)  # the worst case: everything created 0666 / 0777
    try:
        yield
    finally:
        os.umask(previous)


async def test_a_new_database_its_wal_and_folder_are_private(tmp_path: Path) -> None:
    db = tmp_path / "data" / "bot.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (a TEXT)")
            await conn.exec_driver_sql("INSERT INTO t VALUES ('x')")
        assert mode(db.parent) == 0o700
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert mode(path) == 0o600, path.name
    finally:
        await engine.dispose()


def test_existing_open_files_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o777)
    db = folder / "bot.db"
    sqlite3.connect(db).close()
    for path in (db, Path(f"{db}-wal"), folder / "secret.key"):
        path.touch()
        path.chmod(0o666)

    secure_database_files(db)

    assert mode(folder) == 0o700
    assert mode(db) == 0o600 and mode(Path(f"{db}-wal")) == 0o600


def test_a_shared_folder_keeps_its_mode_and_the_operator_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path.chmod(0o755)
    (tmp_path / "someone-elses-file").touch()
    db = tmp_path / "bot.db"

    secure_database_files(db)

    assert mode(tmp_path) == 0o755 and mode(db) == 0o600
    assert "left as it is" in caplog.text


def test_the_log_file_is_private(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "bot.log"
    handler = open_private_log(log_file)
    handler.close()
    assert mode(log_file) == 0o600 and mode(log_file.parent) == 0o700

    log_file.chmod(0o644)  # an existing log, world-readable
    handler = open_private_log(log_file)
    try:
        handler.emit(logging.LogRecord("bot", logging.INFO, "", 0, "hello", None, None))
    finally:
        handler.close()
    assert mode(log_file) == 0o600 and "hello" in log_file.read_text()
