from collections.abc import AsyncIterator, Iterator

import pytest
from telegram import Bot

from tests.fakes.telegram_server import FakeTelegram

TOKEN = "5151:delivery-tests"
ALICE, BOB, CAROL = 301, 302, 303


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        for user in (ALICE, BOB, CAROL):
            server.add_user(user)
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url) as client:
        yield client
