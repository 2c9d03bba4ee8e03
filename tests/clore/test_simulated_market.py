"""The simulated market's order life over real HTTP: wallets, my_orders, refusals, expiry."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot.simulated.evolution import Evolution, initial_market
from bot.simulated.market import MAX_ORDER_SECONDS, SimulatedMarket, rentable, winner
from tests.clore.conftest import Clock
from tests.fakes.clore_server import FakeClore, make_bid, make_server

KEY, OTHER_KEY = "key-a", "key-b"
USER, OTHER = 11, 12


def market() -> dict[str, dict[str, Any]]:
    return {
        "1": make_server(gpus=2, pl=(100, 300), min_bid=10.0, max_rental_length=3600),
        "2": make_server(min_bid=5.0, max_rental_length=90 * 86400),
        "3": make_server(max_rental_length=0),
        "4": make_server(online=False),
    }


def fake_clore(clock: Clock) -> FakeClore:
    fake = FakeClore(keys={KEY: USER, OTHER_KEY: OTHER}, market=market(), interval=0)
    fake.clock = clock
    return fake


def call(fake: FakeClore, endpoint: str, body: Any = None, key: str = KEY,
         query: str = "") -> dict[str, Any]:
    url = f"{fake.url}/v1/{endpoint}{query}"
    if body is None:
        return httpx.get(url, headers={"auth": key}).json()
    return httpx.post(url, headers={"auth": key}, json=body).json()


def order(server: int, price: float, pls: list[int]) -> dict[str, Any]:
    return {"renting_server": server, "price": price, "image": "img",
            "oc": [{"pl": pl} for pl in pls]}


def test_wallets_are_per_account_and_creation_costs_the_fee() -> None:
    with fake_clore(Clock(1_800_000_000.0)) as fake:
        fake.sim.set_balance(OTHER, 3.5)
        assert call(fake, "wallets", key=OTHER_KEY)["wallets"][0]["balance"] == 3.5
        assert call(fake, "wallets")["wallets"][0]["balance"] == 100.0
        call(fake, "create_gigaspot_orders", [order(2, 6, [200])])
        assert call(fake, "wallets")["wallets"][0]["balance"] == 100.0 - 0.045
        fake.sim.set_balance(USER, 0.01)
        broke = call(fake, "create_gigaspot_orders", [order(2, 6, [200])])
    assert (broke["code"], broke["error"]) == (6, "not_enough_balance")


def test_my_orders_has_creation_time_and_life_and_completed_on_request() -> None:
    clock = Clock(1_800_000_000.0)
    with fake_clore(clock) as fake:
        call(fake, "create_gigaspot_orders", [order(1, 12, [150, 150]), order(2, 6, [200])])
        clock.now += 10
        mine = call(fake, "my_orders", query="?return_completed=false")["orders"]
        assert [(o["server_id"], o["ct"], o["mrl"], o["price"]) for o in mine] == [
            (1, 1_800_000_000, 3600, 12), (2, 1_800_000_000, MAX_ORDER_SECONDS, 6)]
        assert call(fake, "my_orders", key=OTHER_KEY)["orders"] == []
        call(fake, "cancel_orders", {"order_ids": [mine[1]["id"]]})
        open_ = call(fake, "my_orders", query="?return_completed=false")["orders"]
        every = call(fake, "my_orders", query="?return_completed=true")["orders"]
    assert [o["id"] for o in open_] == [mine[0]["id"]]
    assert [(o["id"], o["cancelled"], o["price"]) for o in every] == [
        (mine[0]["id"], False, 12), (mine[1]["id"], True, 6)]


def test_orders_expire_at_the_end_of_their_life_on_the_injected_clock() -> None:
    clock = Clock(1_800_000_000.0)
    with fake_clore(clock) as fake:
        call(fake, "create_gigaspot_orders", [order(1, 12, [150, 150]), order(2, 6, [200])])
        clock.now += 3599
        fake.publish()
        assert len(fake.bids_of(USER)) == 2
        clock.now += 1
        snapshot = httpx.get(fake.publish()).json()
        assert snapshot["1"]["bids"] == [] and len(snapshot["2"]["bids"]) == 1
        clock.now += MAX_ORDER_SECONDS
        every = call(fake, "my_orders", query="?return_completed=true")["orders"]
    assert [o["expired"] for o in every] == [True, True]
    assert fake.bids_of(USER) == []


def test_create_refusals_each_in_its_list() -> None:
    with fake_clore(Clock(1_800_000_000.0)) as fake:
        reply = call(fake, "create_gigaspot_orders", [
            order(1, 12, [150]),  # one power limit for two GPUs
            order(1, 12, [150, 400]),  # above the GPU's range
            order(1, 9.5, [150, 150]),  # below min_bid
            order(3, 50, [200]),  # max_rental_length 0
            order(4, 50, [200]),  # offline
            order(9, 50, [200]),  # no such server
            order(2, 6, [200]),  # fine
        ])
        assert reply == {
            "status": "ok", "too_low_bids_servers": [1], "failed_to_oc_servers": [1, 1],
            "failed_to_rent_servers": [3, 4, 9], "code": 0,
        }
        fake.sim.refuse("too_low_bids_servers", target=2)
        forced = call(fake, "create_gigaspot_orders", [order(2, 60, [200])])
    assert forced["too_low_bids_servers"] == [2] and len(fake.bids_of(USER)) == 1


def test_edit_refusals_and_a_power_change() -> None:
    with fake_clore(Clock(1_800_000_000.0)) as fake:
        fake.market["2"]["bids"].append(make_bid(owner=OTHER, order_id=5, price=7))
        call(fake, "create_gigaspot_orders", [order(1, 12, [150, 150])])
        [(_, bid)] = fake.bids_of(USER)
        mine = bid["id"]
        reply = call(fake, "edit_gigaspot_orders", [
            {"order_id": mine, "price": 9},  # below min_bid 10
            {"order_id": 5, "price": 20},  # someone else's
            {"order_id": 424242, "price": 20},  # no such order
            {"order_id": mine, "price": 11, "oc": [{"pl": 100}, {"pl": 999}]},  # bad power
            {"order_id": mine, "price": 13, "oc": [{"pl": 100}, {"pl": 120}]},
        ])
        assert reply == {
            "success_to_update_ids": [mine], "too_low_bid_ids": [mine],
            "failed_to_update_ids": [5, 424242, mine], "code": 0,
        }
        assert (bid["price"], bid["pl"]) == (13, 220)
        fake.sim.refuse("failed_to_update_ids")
        forced = call(fake, "edit_gigaspot_orders", [{"order_id": mine, "price": 14}])
    assert forced["failed_to_update_ids"] == [mine] and bid["price"] == 13


def test_running_bids_are_charged_to_their_owner_as_time_passes() -> None:
    clock = Clock(1_800_000_000.0)
    with fake_clore(clock) as fake:
        fake.market["2"]["bids"].append(make_bid(owner=OTHER, order_id=5, price=7, pl=100))
        call(fake, "create_gigaspot_orders", [order(2, 8.64, [100])])  # leads on server 2
        call(fake, "wallets", key=OTHER_KEY)
        fake.advance()
        clock.now += 8640  # a tenth of a day
        fake.advance()
        mine = call(fake, "my_orders")["orders"][0]
        balances = [call(fake, "wallets", key=k)["wallets"][0]["balance"]
                    for k in (KEY, OTHER_KEY)]
    assert round(mine["spend"], 6) == 0.864
    assert balances == [round(100 - 0.045 - 0.864, 8), 100.0]


def test_evolution_changes_machines_and_rivals_outbid_a_leading_player() -> None:
    clock = Clock(1_800_000_000.0)
    sim = SimulatedMarket(servers=initial_market(200, seed=1), clock=clock)
    sid = next(s for s, server in sim.servers.items() if rentable(server))
    server = sim.servers[sid]
    server["bids"].clear()
    mine = sim.place(USER, sid, server["min_bid"] + 100, sum(g["pl"][0] for g in server["gpus"]))
    evolution = Evolution(sim, players={USER}, seed=2, outbid_chance=1.0)
    before = json.dumps(sim.servers, sort_keys=True)

    evolution.step()

    assert json.dumps(sim.servers, sort_keys=True) != before
    leader = winner(sim.servers[sid], sim.clore_price)
    assert leader is not None and leader["owner"] != USER and mine in sim.servers[sid]["bids"]
    assert leader["owner"] in evolution.rivals and sim.orders[leader["id"]].ct == clock.now
