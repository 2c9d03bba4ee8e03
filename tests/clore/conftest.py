"""A fake clore server with two users and a small market, and a client with short intervals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.clore.client import CloreClient
from tests.fakes.clore_server import FakeClore, make_bid, make_server

ALICE_KEY = "alice-SECRET-key-0001"  # distinctive, so a leak into messages or logs is caught
BOB_KEY = "bob-SECRET-key-0002"
ALICE, BOB, STRANGER = 7, 8, 99
INTERVAL = 0.05


def small_market() -> dict[str, dict[str, Any]]:
    return {
        "100": make_server(gpus=2, pl=(100, 300), min_bid=10.0),
        "200": make_server(
            gpus=1, min_bid=5.0, bids=[make_bid(owner=STRANGER, order_id=500, price=8.0)]
        ),
    }


def make_client(url: str, **overrides: Any) -> CloreClient:
    options: dict[str, Any] = {
        "interval": INTERVAL, "timeout": 0.5, "read_attempts": 3, "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
    }
    options.update(overrides)
    return CloreClient(url, **options)


@pytest.fixture
def fake() -> Iterator[FakeClore]:
    with FakeClore(
        keys={ALICE_KEY: ALICE, BOB_KEY: BOB}, market=small_market(), interval=INTERVAL
    ) as server:
        yield server


@pytest.fixture
async def client(fake: FakeClore) -> AsyncIterator[CloreClient]:
    async with make_client(fake.url) as clore:
        yield clore


class Clock:
    """A settable unix clock for the fetcher's age and staleness."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def quick_client(fake: FakeClore) -> AsyncIterator[CloreClient]:
    """A client that gives up fast: fetcher tests provoke failures on purpose."""
    async with make_client(fake.url, read_attempts=2, timeout=0.3) as clore:
        yield clore
