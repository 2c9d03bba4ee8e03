from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.secrets import DecryptionError, KeyBox, SecretKeyError, load_or_create_secret


def _settings(secret_key: str | None = None) -> Settings:
    return Settings(
        _env_file=None,
        telegram_bot_token="t",
        clore_api_token="c",
        secret_key=secret_key,
        database_url="sqlite+aiosqlite://",
    )


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    box = KeyBox(Fernet.generate_key())
    token = box.encrypt("my-clore-api-key")
    assert "my-clore-api-key" not in token
    assert box.encrypt("my-clore-api-key") != token  # random IV per encryption
    assert box.decrypt(token) == "my-clore-api-key"


def test_wrong_key_and_garbage_raise_a_clear_error() -> None:
    token = KeyBox(Fernet.generate_key()).encrypt("my-clore-api-key")
    other = KeyBox(Fernet.generate_key())
    with pytest.raises(DecryptionError, match="SECRET_KEY"):
        other.decrypt(token)
    with pytest.raises(DecryptionError):
        other.decrypt("not-a-token")


def test_invalid_key_says_how_to_generate_and_repr_hides_key() -> None:
    with pytest.raises(SecretKeyError, match="generate"):
        KeyBox(b"too-short")
    key = Fernet.generate_key()
    assert key.decode() not in repr(KeyBox(key))


def test_secret_key_setting_wins(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert load_or_create_secret(_settings(key), tmp_path) == key.encode()
    assert not (tmp_path / "secret.key").exists()


def test_invalid_secret_key_setting_is_rejected_without_echo(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError) as caught:
        load_or_create_secret(_settings("hunter2-not-fernet"), tmp_path)
    assert "SECRET_KEY" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = load_or_create_secret(_settings(), data_dir)
    path = data_dir / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyBox(key).decrypt(KeyBox(path.read_bytes().strip()).encrypt("x")) == "x"
    assert load_or_create_secret(_settings(), data_dir) == key
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]  # no temp file left


def test_key_file_readable_by_others_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = load_or_create_secret(_settings(), tmp_path)
    (tmp_path / "secret.key").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="bot.secrets"):
        assert load_or_create_secret(_settings(), tmp_path) == key
    assert "chmod 600" in caplog.text
    assert key.decode() not in caplog.text


def test_corrupt_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(b"garbage\n")
    path.chmod(0o600)
    with pytest.raises(SecretKeyError, match=r"secret\.key"):
        load_or_create_secret(_settings(), tmp_path)
