"""The fake clore server itself, driven with a plain sync HTTP client as a bot would."""

from __future__ import annotations

import httpx

from tests.fakes.clore_server import FakeClore, make_bid, make_server


def test_throttles_a_fast_key_with_code_5_or_http_429() -> None:
    for status in (200, 429):
        with FakeClore(keys={"k": 1}, interval=30, throttle_status=status) as fake:
            first = httpx.get(f"{fake.url}/v1/wallets", headers={"auth": "k"})
            second = httpx.get(f"{fake.url}/v1/wallets", headers={"auth": "k"})
        assert first.json()["code"] == 0
        assert (second.status_code, second.json()["code"]) == (status, 5)
        assert ("retry-after" in second.headers) == (status == 429)


def test_orders_show_up_in_the_next_published_snapshot() -> None:
    market = {"1": make_server(min_bid=10, bids=[make_bid(owner=5, order_id=3, price=11)])}
    with FakeClore(keys={"k": 1}, market=market, interval=0) as fake:
        url_before = fake.snapshot_url
        reply = httpx.post(
            f"{fake.url}/v1/create_gigaspot_orders", headers={"auth": "k"},
            json=[{"renting_server": 1, "price": 12, "image": "i", "oc": [{"pl": 200}]}],
        ).json()
        assert reply["code"] == 0 and reply["too_low_bids_servers"] == []
        assert len(httpx.get(url_before).json()["1"]["bids"]) == 1  # old snapshot unchanged
        url_after = fake.publish()
        bids = httpx.get(url_after).json()["1"]["bids"]
    assert [(b["owner"], b["price"], b["pl"]) for b in bids] == [(5, 11, 300), (1, 12, 200)]
    assert url_after != url_before


def test_auto_publish_and_foreign_orders() -> None:
    market = {"1": make_server(bids=[make_bid(owner=5, order_id=3, price=11)])}
    with FakeClore(keys={"k": 1}, market=market, interval=0, auto_publish=True) as fake:
        url_before = fake.snapshot_url
        edit = httpx.post(
            f"{fake.url}/v1/edit_gigaspot_orders", headers={"auth": "k"},
            json=[{"order_id": 3, "price": 50}],
        ).json()
        cancel = httpx.post(
            f"{fake.url}/v1/cancel_orders", headers={"auth": "k"}, json={"order_ids": [3]}
        ).json()
        assert fake.snapshot_url == url_before  # nothing changed, nothing published
        httpx.post(
            f"{fake.url}/v1/create_gigaspot_orders", headers={"auth": "k"},
            json=[{"renting_server": 1, "price": 12, "image": "i", "oc": [{"pl": 200}]}],
        )
        assert fake.snapshot_url != url_before
    assert edit["failed_to_update_ids"] == [3] and cancel["failed_to_cancel"] == ["3"]
    assert [c.endpoint for c in fake.calls] == [
        "edit_gigaspot_orders", "cancel_orders", "create_gigaspot_orders"
    ]
