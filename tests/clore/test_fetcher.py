"""The snapshot fetcher: download on URL change only, keep the last good snapshot, age."""

from __future__ import annotations

import threading

import pytest

from bot.clore.client import CloreClient
from bot.clore.errors import CloreAuthError
from bot.clore.fetcher import SnapshotFetcher, snapshot_timestamp
from bot.market.snapshot import Snapshot, decode_snapshot
from tests.clore.conftest import ALICE_KEY, Clock, make_client
from tests.fakes.clore_server import FakeClore, make_bid


@pytest.fixture
def client(quick_client: CloreClient) -> CloreClient:
    return quick_client


def fetcher(client: CloreClient, **options: object) -> SnapshotFetcher:
    return SnapshotFetcher(client, ALICE_KEY, download_timeout=0.3, **options)  # type: ignore[arg-type]


async def test_downloads_only_when_the_url_changes(fake: FakeClore, client: CloreClient) -> None:
    snapshots = fetcher(client)
    first = await snapshots.poll()
    assert first.is_new and first.error is None and not first.stale
    assert first.snapshot is not None and first.snapshot.sorted_ids() == ["100", "200"]
    again = await snapshots.poll()
    assert not again.is_new and again.snapshot is first.snapshot
    assert len(fake.calls_for("snapshot")) == 1
    assert fake.calls_for("snapshot")[0].key is None  # the CDN never sees the key

    fake.market["200"]["bids"].append(make_bid(owner=1, order_id=9, price=9.5))
    fake.publish()
    third = await snapshots.poll()
    assert third.is_new and len(fake.calls_for("snapshot")) == 2
    assert third.snapshot is not None
    assert third.snapshot.servers["100"] is first.snapshot.servers["100"]  # unchanged: reused
    assert len(third.snapshot.servers["200"].bids) == 2


@pytest.mark.parametrize(("kind", "options"), [
    ("http", {"status": 500, "times": 2}),
    ("truncated", {}),
    ("empty", {}),
    ("wrong_types", {}),
    ("oversized", {"size": 4096}),
    ("oversized", {"size": 4096, "declare_length": False}),
    ("hang", {"hang": 5, "times": 2}),
])
async def test_bad_download_keeps_the_previous_snapshot(
    fake: FakeClore, client: CloreClient, kind: str, options: dict[str, object]
) -> None:
    snapshots = fetcher(client, max_bytes=2048)
    first = await snapshots.poll()
    new_url = fake.publish()
    fake.fail("snapshot", kind, **options)
    failed = await snapshots.poll()
    assert not failed.is_new and failed.error
    assert failed.snapshot is first.snapshot and failed.snapshot_url == first.snapshot_url
    assert failed.info is not None and failed.info.snapshot_url == new_url
    retried = await snapshots.poll()  # the same URL is tried again
    assert retried.is_new and retried.snapshot_url == new_url


async def test_empty_first_snapshot_is_an_empty_market() -> None:
    with FakeClore(keys={ALICE_KEY: 7}, interval=0) as fake:
        async with make_client(fake.url) as client:
            result = await fetcher(client).poll()
    assert result.is_new and result.snapshot is not None and result.snapshot.servers == {}


async def test_failed_get_gigaspot_reports_and_keeps(fake: FakeClore, client: CloreClient) -> None:
    snapshots = fetcher(client)
    first = await snapshots.poll()
    fake.fail("get_gigaspot", "code", code=3, error="invalid api token")
    result = await snapshots.poll()
    assert isinstance(result.failure, CloreAuthError)
    assert result.info is None and not result.is_new and result.snapshot is first.snapshot


async def test_age_comes_from_the_url_timestamp(fake: FakeClore, client: CloreClient) -> None:
    clock = Clock(1_800_000_000.0)
    snapshots = fetcher(client, stale_after=60, clock=clock)
    fake.publish(timestamp=1_800_000_000 - 30)
    fresh = await snapshots.poll()
    assert fresh.age_seconds == 30 and not fresh.stale
    clock.now += 31
    old = await snapshots.poll()
    assert not old.is_new and old.age_seconds == 61 and old.stale


async def test_age_falls_back_to_the_fetch_time(fake: FakeClore, client: CloreClient) -> None:
    clock = Clock(1_000.0)
    snapshots = fetcher(client, stale_after=10, clock=clock)
    fake.publish(name="market.json")
    result = await snapshots.poll()
    assert result.is_new and result.age_seconds == 0
    clock.now += 11
    assert (await snapshots.poll()).stale


async def test_no_snapshot_yet_is_stale(fake: FakeClore, client: CloreClient) -> None:
    fake.fail("snapshot", "http", status=404)
    result = await fetcher(client).poll()
    assert result.snapshot is None and result.stale and result.age_seconds is None


def test_snapshot_timestamp() -> None:
    assert snapshot_timestamp("https://cdn/x/prod_6K80i2Tyvm_1735176176.json") == 1735176176
    assert snapshot_timestamp("https://cdn/prod_1735176176.json?sig=abc") == 1735176176
    assert snapshot_timestamp("https://cdn/latest.json") is None


async def test_clore_price_stays_with_its_snapshot(fake: FakeClore, client: CloreClient) -> None:
    snapshots = fetcher(client)
    fake.clore_price = 0.04
    assert (await snapshots.poll()).clore_price == 0.04
    fake.clore_price = 0.05  # the price moves, the snapshot does not
    same = await snapshots.poll()
    assert same.info is not None and same.info.clore_price == 0.05
    assert same.clore_price == 0.04
    fake.clore_price = None  # a reply without the field: keep the last known price
    fake.publish()
    newer = await snapshots.poll()
    assert newer.is_new and newer.clore_price == 0.05
    assert newer.info is not None and newer.info.creation_fees == {"CLORE-Blockchain": 0.045}


async def test_decodes_off_the_loop_with_the_previous_snapshot(
    fake: FakeClore, client: CloreClient
) -> None:
    seen: list[tuple[int, Snapshot | None]] = []

    def decode(data: bytes, previous: Snapshot | None) -> Snapshot:
        seen.append((threading.get_ident(), previous))
        return decode_snapshot(data, previous)

    snapshots = fetcher(client, decode=decode)
    first = await snapshots.poll()
    fake.publish()
    await snapshots.poll()
    loop_thread = threading.get_ident()
    assert [thread != loop_thread for thread, _ in seen] == [True, True]
    assert [previous for _, previous in seen] == [None, first.snapshot]


@pytest.mark.parametrize("url", ["ftp://cdn/prod_1735176176.json", "/relative_1735176176.json"])
async def test_unusable_snapshot_url_is_an_error(
    fake: FakeClore, client: CloreClient, url: str
) -> None:
    fake.snapshot_url = url
    result = await fetcher(client).poll()
    assert result.snapshot is None and result.error and "unusable URL" in result.error
