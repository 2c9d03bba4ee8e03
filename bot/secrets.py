"""Encryption at rest of the users' secrets: clore API keys and order templates'
environment values (Fernet: AES-128-CBC + HMAC-SHA256).

The Fernet key comes from `SECRET_KEY` or, when that is unset, from `<data dir>/secret.key`,
created once with mode 0600. Key material is never logged and never part of a repr or an
error message. An unusable key (malformed, unreadable file) raises `SecretKeyError`, a
`ConfigError`: the bot stops at start with that one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from bot.config import ConfigError, Settings

log = logging.getLogger(__name__)

SECRET_FILE_NAME = "secret.key"
GENERATE_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class SecretKeyError(ConfigError):
    """The configured or stored Fernet key is unusable."""


class DecryptionError(Exception):
    """A stored value cannot be decrypted with the current key."""


def _fernet(key: bytes | str, source: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        # `from None`: the original exception's args could carry the key.
        raise SecretKeyError(
            f"{source} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
            f"{GENERATE_HINT}"
        ) from None


class KeyBox:
    """Encrypts and decrypts short secrets (API keys) with one Fernet key."""

    __slots__ = ("_fernet",)

    def __init__(self, fernet_key: bytes | str) -> None:
        self._fernet = _fernet(fernet_key, "the secret key")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise DecryptionError(
                "a stored secret cannot be decrypted: SECRET_KEY (or data/secret.key) is not "
                "the key it was encrypted with; restore that key or ask users to link again"
            ) from None

    def __repr__(self) -> str:
        return "KeyBox(<key hidden>)"


def _check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s is accessible by group/others (mode %o); run: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


def _read_key_file(path: Path) -> bytes:
    if not path.is_file():
        raise SecretKeyError(f"{path} cannot be read (it is not a regular file)")
    try:
        _check_permissions(path)
        key = path.read_bytes().strip()
    except OSError as exc:
        raise SecretKeyError(f"{path} cannot be read ({exc.strerror or exc})") from None
    _fernet(key, str(path))
    return key


def _create_key_file(path: Path) -> bytes:
    """Write a new key to `path` unless another process won the race; return the key in it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask did
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() publishes the complete file or fails if one exists: never a half-written key
        # and never an overwritten one (which would orphan every stored API key).
        os.link(tmp, path)
    except FileExistsError:
        return _read_key_file(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    log.warning("generated a new secret key in %s; back it up with the database", path)
    return key


def load_or_create_secret(settings: Settings, data_dir: Path) -> bytes:
    """The Fernet key: `SECRET_KEY` when set, else `data_dir/secret.key` (created if missing)."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value().strip().encode("ascii", "replace")
        _fernet(key, "SECRET_KEY")
        return key
    path = data_dir / SECRET_FILE_NAME
    if path.exists() or path.is_symlink():  # a dangling link is a broken key, not a new one
        return _read_key_file(path)
    try:
        return _create_key_file(path)
    except OSError as exc:
        raise SecretKeyError(f"{path} cannot be created ({exc.strerror or exc})") from None
