"""Order calls against the fake market: typed, normalised results; cancel in chunks of 64."""

from __future__ import annotations

import pytest

from bot.clore import errors as e
from bot.clore.client import CloreClient
from bot.clore.models import NewOrder, OrderEdit, Overclock
from tests.clore.conftest import ALICE, ALICE_KEY, BOB, BOB_KEY
from tests.fakes.clore_server import FakeClore, make_bid


def order(server: int, price: float, *pls: int) -> NewOrder:
    return NewOrder(
        renting_server=server, price=price, image="img", oc=tuple(Overclock(pl=p) for p in pls)
    )


async def test_create_reports_failures_per_server(fake: FakeClore, client: CloreClient) -> None:
    result = await client.create_gigaspot_orders(ALICE_KEY, [
        order(100, 12.0, 150, 200),  # ok
        order(200, 1.0, 300),  # under min_bid
        order(999, 50.0, 300),  # no such server
        order(100, 12.0, 150),  # one oc entry for two GPUs
    ])
    assert result.too_low_bids_servers == [200]
    assert result.failed_to_rent_servers == [999]
    assert result.failed_to_oc_servers == [100]
    [(server_id, bid)] = fake.bids_of(ALICE)
    assert (server_id, bid["price"], bid["pl"]) == ("100", 12.0, 350)
    body = fake.calls_for("create_gigaspot_orders")[0].body
    assert body[0] == {
        "renting_server": 100, "price": 12.0, "image": "img",
        "oc": [{"pl": 150}, {"pl": 200}], "currency": "CLORE-Blockchain",
    }


async def test_edit_sorts_ids_into_success_failed_too_low(
    fake: FakeClore, client: CloreClient
) -> None:
    fake.market["100"]["bids"] += [
        make_bid(owner=ALICE, order_id=1, price=11), make_bid(owner=ALICE, order_id=2, price=11)
    ]
    result = await client.edit_gigaspot_orders(ALICE_KEY, [
        OrderEdit(order_id=1, price=15.5),
        OrderEdit(order_id=2, price=3.0),  # under min_bid
        OrderEdit(order_id=500, price=20.0),  # somebody else's
    ])
    assert (result.success_ids, result.too_low_ids, result.failed_ids) == ([1], [2], [500])
    assert fake.market["100"]["bids"][0]["price"] == 15.5


async def test_cancel_normalises_string_ids(fake: FakeClore, client: CloreClient) -> None:
    fake.market["100"]["bids"].append(make_bid(owner=ALICE, order_id=1, price=11))
    result = await client.cancel_orders(ALICE_KEY, [1, 500])
    assert result.failed_ids == [500]  # the fake answers "500", as the docs type it
    assert fake.bids_of(ALICE) == []


async def test_cancel_goes_in_chunks_of_64(fake: FakeClore, client: CloreClient) -> None:
    ids = list(range(1, 131))
    fake.market["100"]["bids"] += [make_bid(owner=BOB, order_id=i, price=11) for i in ids]
    result = await client.cancel_orders(BOB_KEY, [*ids, 7])  # a repeated id is sent once
    assert result.failed_ids == []
    bodies = [c.body["order_ids"] for c in fake.calls_for("cancel_orders")]
    assert [len(b) for b in bodies] == [64, 64, 2]
    assert [i for body in bodies for i in body] == ids
    assert fake.bids_of(BOB) == []


async def test_cancel_failure_midway_says_what_was_done(
    fake: FakeClore, client: CloreClient
) -> None:
    ids = list(range(1, 140))
    fake.market["100"]["bids"] += [make_bid(owner=BOB, order_id=i, price=11) for i in ids]
    fake.fail("cancel_orders", "http", status=500, skip=1)
    with pytest.raises(e.CloreServerError) as info:
        await client.cancel_orders(BOB_KEY, ids)
    assert info.value.ambiguous
    assert info.value.completed_ids == ids[:64]
    assert info.value.unsent_ids == ids[128:]
    assert len(fake.calls_for("cancel_orders")) == 2


async def test_wallets_and_my_orders(fake: FakeClore, client: CloreClient) -> None:
    fake.wallets[ALICE] = [{"name": "CLORE-Blockchain", "balance": 12.5}]
    fake.market["200"]["bids"].append(make_bid(owner=ALICE, order_id=42, price=9))
    [wallet] = await client.wallets(ALICE_KEY)
    assert (wallet.name, wallet.balance, wallet.deposit) == ("CLORE-Blockchain", 12.5, None)
    orders = await client.my_orders(ALICE_KEY)
    assert [o["id"] for o in orders] == [42]
    assert fake.calls_for("my_orders")[0].path.endswith("?return_completed=false")
