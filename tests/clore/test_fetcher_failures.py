"""A snapshot that cannot be decoded or applied is no new data: the one in force stays, and
so does its age, which keeps counting towards stale."""

from __future__ import annotations

import pytest

from bot.clore.client import CloreClient
from bot.clore.fetcher import SnapshotFetcher
from tests.clore.conftest import ALICE_KEY, Clock
from tests.fakes.clore_server import FakeClore

NESTED = b'{"1": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
T0 = 1_800_000_000


@pytest.fixture
def client(quick_client: CloreClient) -> CloreClient:
    return quick_client


async def test_deeply_nested_json_is_rejected_and_ages_the_snapshot_in_force(
    fake: FakeClore, client: CloreClient
) -> None:
    clock = Clock(T0)
    snapshots = SnapshotFetcher(client, ALICE_KEY, stale_after=20, clock=clock)
    fake.publish(timestamp=T0)
    first = await snapshots.poll()
    assert first.is_new and not first.stale

    bad_url = fake.publish(raw=NESTED, timestamp=T0 + 10)
    clock.now = T0 + 15
    failed = await snapshots.poll()
    assert not failed.is_new and failed.snapshot is first.snapshot
    assert failed.error is not None and "cannot be decoded" in failed.error
    assert failed.info is not None and failed.info.snapshot_url == bad_url
    assert failed.age_seconds == 15 and not failed.stale
    clock.now = T0 + 21
    assert (await snapshots.poll()).stale  # counted from the snapshot last applied


async def test_a_rejected_snapshot_puts_the_previous_back_and_is_fetched_again(
    fake: FakeClore, client: CloreClient
) -> None:
    clock = Clock(T0)
    snapshots = SnapshotFetcher(client, ALICE_KEY, stale_after=20, clock=clock)
    fake.publish(timestamp=T0)
    first = await snapshots.poll()
    new_url = fake.publish(timestamp=T0 + 30)
    clock.now = T0 + 31
    second = await snapshots.poll()
    assert second.is_new and second.snapshot_url == new_url and not second.stale

    rejected = snapshots.reject(second, RuntimeError("could not apply"))
    assert not rejected.is_new and rejected.snapshot is first.snapshot
    assert rejected.snapshot_url == first.snapshot_url and rejected.stale
    assert rejected.error == "could not apply"
    again = await snapshots.poll()
    assert again.is_new and again.snapshot_url == new_url
