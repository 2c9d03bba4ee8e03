"""Local files readable by the bot's user only: the data folder, the database, the log.

The database holds encrypted API keys next to everything a user told the bot, so its
folder is 0700 and its files 0600 whatever the umask. SQLite gives a new WAL, SHM or
journal file the mode of the database file, which is why creating that file 0600 before
SQLite opens it (and tightening one that exists) is enough for the others.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
FOLDER_MODE = 0o700
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def restrict_umask() -> None:
    """Everything the process creates from now on is private (0600 files, 0700 folders)."""
    os.umask(PRIVATE_UMASK)


def make_private_folder(path: Path) -> None:
    """Create `path` (and parents) if missing; a folder created here is 0700."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    with contextlib.suppress(OSError):
        path.chmod(FOLDER_MODE)  # mkdir's mode went through the umask


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot make %s private (%s); run: chmod %o %s", path, exc.strerror,
                    mode, path)


def _only_bot_files(folder: Path, database: Path) -> bool:
    """True when every entry of `folder` is one the bot writes there."""
    ours = {database.name, *(database.name + side for side in SQLITE_SIDE_FILES), "secret.key"}
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:
        return False
    # `.secret.key.<pid>.tmp` while a key is being written; a LOG_FILE kept beside the data.
    return all(
        name in ours or name.startswith(".secret.key.") or name.endswith(".log")
        for name in names
    )


def secure_database_files(database: Path) -> None:
    """Before SQLite opens `database`: its folder exists, and it and its side files are 0600.

    A missing database file is created empty (a valid empty SQLite database) with mode 0600,
    so SQLite never creates it with its own default of 0644. The folder is made 0700 only
    when it holds nothing but the bot's files: a database put in a shared folder
    (`/var/lib`, a home folder) must not change who may list that folder, so there the
    operator is warned instead.
    """
    folder = database.parent
    make_private_folder(folder)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for path in (database, *(Path(f"{database}{side}") for side in SQLITE_SIDE_FILES)):
        _tighten(path, FILE_MODE)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(folder.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO):
            if _only_bot_files(folder, database):
                _tighten(folder, FOLDER_MODE)
            else:
                log.warning("the database folder %s is readable by others; it holds other "
                            "files too, so it was left as it is", folder)


def open_private_log(path: Path) -> logging.FileHandler:
    """A log handler appending to `path`, which is (made) 0600; its folder is made too."""
    make_private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
    _tighten(path, FILE_MODE)
    return logging.FileHandler(path, encoding="utf-8")


def secure_redirected_output() -> None:
    """An operator's `gigaspot-bot run >> bot.log 2>&1` makes the shell create bot.log with
    its umask: a regular file of ours behind stdout or stderr is made 0600 too."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & FILE_MODE)
        except (AttributeError, OSError, ValueError):
            continue  # not a real file (pytest capture, a pipe, a closed stream)
