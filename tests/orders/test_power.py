"""Lead by power, with energy worked out by hand.

Every case uses energy_price 0.1 USD/kWh and a CLORE price of 0.05 USD, so a watt held for
a day costs 24/1000 * 0.1 / 0.05 = 0.048 CLORE: energy(W) = 0.048 W CLORE/day.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.market.ranking import bid_standing, energy
from bot.market.snapshot import Bid, Gpu, Server
from bot.orders.power import (
    lead_by_power,
    lowest_power,
    max_leading_power,
    share_power,
)

ME, RIVAL = 7, 9
CLORE_PRICE = 0.05
PER_WATT = 0.048  # CLORE/day per watt


def _server(
    bids: tuple[Bid, ...], gpus: tuple[tuple[float, float], ...] = ((100, 450),),
    energy_price: float = 0.1,
) -> Server:
    return Server(
        bids=bids, on_demand_rented=False, online=True, cpu="cpu", cores=4, threads=8,
        ram=32.0, gpus=tuple(Gpu("RTX 4090", pl) for pl in gpus), working_properly=True,
        cuda="12.4", max_rental_length=86400, cc="DE", host=1, reliability=0.99,
        min_bid=5.0, energy_price=energy_price,
    )  # fmt: skip


def _mine(price: float, pl: float) -> Bid:
    return Bid(owner=ME, id=1, active=True, price=price, pl=pl)


def _rival(price: float, pl: float) -> Bid:
    return Bid(owner=RIVAL, id=2, active=True, price=price, pl=pl)


def test_energy_per_watt_is_what_the_cases_assume() -> None:
    assert abs(energy(1, 0.1, CLORE_PRICE) - PER_WATT) < 1e-12


def test_one_gpu_leads_again_at_204_watts() -> None:
    # rival: 20 - 100 * 0.048 = 15.2; mine at 300 W: 25 - 14.4 = 10.6, outbid.
    # 25 - 0.048 W > 15.2  <=>  W < 204.17: the highest whole watt is 204.
    mine = _mine(25, 300)
    server = _server((mine, _rival(20, 100)))
    lead = lead_by_power(server, mine, CLORE_PRICE)
    assert lead is not None
    assert (lead.total_pl, lead.per_gpu, lead.price) == (204, (204,), 25)
    assert abs(lead.top_score - 15.2) < 1e-9
    assert abs(lead.new_score - (25 - 204 * PER_WATT)) < 1e-9  # 15.208
    assert abs(lead.cut_share - 0.32) < 1e-9  # 300 W -> 204 W
    now = bid_standing("1", server, Bid(owner=ME, id=1, active=True, price=25, pl=204), CLORE_PRICE)
    assert now.state == "leading"


def test_an_exact_tie_is_not_offered() -> None:
    # rival 20.2 @ 100 W scores 15.4; 25 - 0.048 W > 15.4 <=> W < 200: 200 W would tie.
    mine = _mine(25, 300)
    server = _server((mine, _rival(20.2, 100)))
    assert max_leading_power(25, 20.2 - 100 * PER_WATT, 0.1, CLORE_PRICE) == 199
    lead = lead_by_power(server, mine, CLORE_PRICE)
    assert lead is not None and lead.total_pl == 199


def test_no_lead_when_even_the_lowest_limit_is_behind() -> None:
    # rival 40 @ 100 W scores 35.2; mine at the lowest 100 W would score 25 - 4.8 = 20.2.
    mine = _mine(25, 300)
    assert lead_by_power(_server((mine, _rival(40, 100))), mine, CLORE_PRICE) is None


def test_two_gpus_share_the_power_evenly() -> None:
    # rival 30 @ 200 W: 30 - 9.6 = 20.4; mine 40 @ 800 W: 40 - 38.4 = 1.6.
    # 40 - 0.048 W > 20.4  <=>  W < 408.33 -> 408 W, 204 W per GPU.
    mine = _mine(40, 800)
    lead = lead_by_power(_server((mine, _rival(30, 200)), ((100, 450), (100, 450))), mine,
                         CLORE_PRICE)
    assert lead is not None and (lead.total_pl, lead.per_gpu) == (408, (204, 204))


def test_uneven_ranges_fill_the_roomier_gpu() -> None:
    mine = _mine(40, 800)
    server = _server((mine, _rival(30, 200)), ((100, 150), (100, 450)))
    lead = lead_by_power(server, mine, CLORE_PRICE)
    assert lead is not None and (lead.total_pl, lead.per_gpu) == (408, (150, 258))


def test_a_user_floor_is_respected() -> None:
    mine = _mine(25, 300)
    server = _server((mine, _rival(20, 100)))
    assert lead_by_power(server, mine, CLORE_PRICE, min_total=205) is None
    assert lead_by_power(server, mine, CLORE_PRICE, min_total=204) is not None


def test_nothing_to_do_when_leading_or_when_power_is_free() -> None:
    mine = _mine(25, 300)
    assert lead_by_power(_server((mine, _rival(10, 100))), mine, CLORE_PRICE) is None
    behind = _server((mine, _rival(30, 100)))
    assert lead_by_power(behind, mine, None) is None  # ranked by price alone
    free = _server((mine, _rival(20, 100)), energy_price=0.0)
    assert lead_by_power(free, mine, CLORE_PRICE) is None
    assert lead_by_power(_server((mine,)), mine, CLORE_PRICE) is None  # no competitor


def test_never_offers_more_power_than_the_bid_has() -> None:
    # rival far behind on score except for our huge power: bound 300.9 W, but we have 250 W
    mine = _mine(25, 250)
    server = _server((mine, _rival(20, 100)))
    lead = lead_by_power(server, mine, CLORE_PRICE)
    # 25 - 0.048*250 = 13 < 15.2: behind; 204 W leads (below 250)
    assert lead is not None and lead.total_pl == 204


def test_lowest_power_and_sharing() -> None:
    server = _server((), ((100.5, 450), (120, 300)))
    assert lowest_power(server) == (101, 120)
    assert share_power(server, 221) == (101, 120)
    assert share_power(server, 222) == (102, 120)
    assert share_power(server, 200) is None  # below the floors
    assert share_power(server, 751) is None  # above the ceilings
    assert share_power(server, 750) == (450, 300)


@given(
    price=st.floats(10, 100), rival_price=st.floats(5, 100), rival_pl=st.integers(100, 450),
    my_pl=st.integers(101, 450),
)
def test_an_offer_always_leads_and_one_more_watt_would_not(
    price: float, rival_price: float, rival_pl: int, my_pl: int
) -> None:
    mine = _mine(price, my_pl)
    server = _server((mine, _rival(rival_price, rival_pl)))
    lead = lead_by_power(server, mine, CLORE_PRICE)
    if lead is None:
        return
    after = Bid(owner=ME, id=1, active=True, price=price, pl=lead.total_pl)
    assert bid_standing("1", server, after, CLORE_PRICE).state == "leading"
    assert 100 <= lead.total_pl < my_pl
    if lead.total_pl + 1 < my_pl:  # the highest such limit: one watt more does not lead
        assert price - energy(lead.total_pl + 1, 0.1, CLORE_PRICE) <= lead.top_score + 1e-9
