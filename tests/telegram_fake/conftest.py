from collections.abc import Iterator

import pytest

from tests.fakes.telegram_server import FakeTelegram

TOKEN = "4242:fake-telegram-tests"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server
