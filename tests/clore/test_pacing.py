"""One request per interval per key, FIFO; different keys do not wait for each other.

Spacing is measured with the fake server's own arrival timestamps."""

from __future__ import annotations

import asyncio
import itertools

from bot.clore.client import CloreClient
from bot.clore.models import OrderEdit
from tests.clore.conftest import ALICE_KEY, BOB_KEY, INTERVAL
from tests.fakes.clore_server import FakeClore

TOLERANCE = 0.005  # clock granularity, not speed


async def test_concurrent_callers_on_one_key_are_spaced(
    fake: FakeClore, client: CloreClient
) -> None:
    await asyncio.gather(
        *(client.get_gigaspot(ALICE_KEY) for _ in range(4)),
        client.wallets(ALICE_KEY),
        client.my_orders(ALICE_KEY),
    )
    arrivals = sorted(c.at for c in fake.calls)
    assert len(arrivals) == 6
    assert all(b - a >= INTERVAL - TOLERANCE for a, b in itertools.pairwise(arrivals))
    assert all(c.code == 0 for c in fake.calls)  # the fake never had to say code 5


async def test_one_key_is_served_first_in_first_out(fake: FakeClore, client: CloreClient) -> None:
    await asyncio.gather(*(
        client.edit_gigaspot_orders(ALICE_KEY, [OrderEdit(order_id=n, price=20)])
        for n in range(1, 6)
    ))
    assert [c.body[0]["order_id"] for c in fake.calls] == [1, 2, 3, 4, 5]


async def test_keys_do_not_wait_for_each_other(fake: FakeClore, client: CloreClient) -> None:
    release_alice = fake.hold("get_gigaspot", key=ALICE_KEY)
    alice = asyncio.create_task(client.get_gigaspot(ALICE_KEY))
    await asyncio.to_thread(fake.wait_for_calls, 1, "get_gigaspot")
    try:
        # Alice's request holds her queue; Bob's goes through meanwhile, twice.
        async with asyncio.timeout(10):  # if Bob waited for Alice this would never end
            await client.get_gigaspot(BOB_KEY)
            await client.wallets(BOB_KEY)
        assert not alice.done()
        assert fake.calls[0].status is None  # still parked, unanswered
    finally:
        release_alice.set()
    await alice
    assert [c.key for c in fake.calls] == [ALICE_KEY, BOB_KEY, BOB_KEY]


async def test_rate_limit_defers_the_whole_key(fake: FakeClore, client: CloreClient) -> None:
    fake.fail("wallets", "throttle", retry_after=0.3)
    await asyncio.gather(client.wallets(ALICE_KEY), client.get_gigaspot(ALICE_KEY))
    throttled = fake.calls_for("wallets")[0]
    later = [c for c in fake.calls if c is not throttled]
    assert later and all(c.at - throttled.at >= 0.3 - TOLERANCE for c in later)
