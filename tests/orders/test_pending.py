from __future__ import annotations

from bot.market.snapshot import Bid, Gpu, Server
from bot.orders.pending import Waiting, match_pending, new_order

ME = 7


def _server(*bids: Bid) -> Server:
    return Server(
        bids=bids, on_demand_rented=False, online=True, cpu="cpu", cores=4, threads=8,
        ram=32.0, gpus=(Gpu("RTX 3090", (100.0, 350.0)),), working_properly=True,
        cuda="12.4", max_rental_length=86400, cc="DE", host=1, reliability=0.99,
        min_bid=5.0, energy_price=0.1,
    )  # fmt: skip


def _bid(order_id: int, owner: int = ME, active: bool = True) -> Bid:
    return Bid(owner=owner, id=order_id, active=active, price=10.0, pl=200)


def test_new_order_skips_known_taken_and_other_owners() -> None:
    server = _server(_bid(5), _bid(9, owner=1), _bid(12), _bid(11, active=False))
    assert new_order(server, ME, known={5}, taken=()) == _bid(11, active=False)
    assert new_order(server, ME, known={5}, taken={11}) == _bid(12)
    assert new_order(server, ME, known={5, 11, 12}, taken=()) is None
    assert new_order(None, ME, known=(), taken=()) is None


def test_match_pending_serves_older_taps_first_and_never_twice() -> None:
    servers = {"1": _server(_bid(5), _bid(20), _bid(21)), "2": _server(_bid(30, owner=1))}
    waiting = [
        Waiting(pending_id=8, server_id="1", known=frozenset({5})),
        Waiting(pending_id=3, server_id="1", known=frozenset({5})),
        Waiting(pending_id=4, server_id="2", known=frozenset()),  # not there yet
        Waiting(pending_id=9, server_id="gone", known=frozenset()),
    ]
    assert match_pending(waiting, servers, ME) == {3: _bid(20), 8: _bid(21)}
    assert match_pending(waiting, servers, ME, taken={20}) == {3: _bid(21)}
