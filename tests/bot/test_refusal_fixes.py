"""Each refusal list of create offers its fix, and each fix tap makes one create call."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_KEY, BotHarness
from tests.bot.test_bid_from_alert import SERVER, match_alert

CREATE = "create_gigaspot_orders"


def labels(message: object) -> list[str]:
    return [label for label, _ in message.buttons]  # type: ignore[attr-defined]


async def refused_bid(bot: BotHarness, template: str = "", **fake_server: object):  # type: ignore[no-untyped-def]
    """A match alert, then clore's own copy of server 200 changes (not yet in a snapshot),
    then the Bid tap: its refusal."""
    alert = await match_alert(bot)
    if template:
        await bot.ask(ALICE, f"/template {template}", expect="Template saved")
    with bot.clore.lock:
        bot.clore.market[SERVER].update(fake_server)
    await bot.tap(ALICE, alert, "Bid")
    return alert, await bot.edited(ALICE, alert.message_id, 1)


async def test_too_low_offers_the_leading_price_never_a_refused_one(bot: BotHarness) -> None:
    alert, edited = await refused_bid(bot, min_bid=100.0)
    assert "refused 12.50 CLORE/day as too low" in edited.text
    assert "Bid 13.00" in labels(edited)

    await bot.tap(ALICE, edited, "Bid 13.00")  # clore still refuses: the next offer is higher
    again = await bot.edited(ALICE, alert.message_id, 2)
    assert "refused 13.00 CLORE/day as too low" in again.text
    assert "Bid 13.50" in labels(again) and "Bid 13.00" not in labels(again)
    assert len(bot.clore.calls_for(CREATE, key=ALICE_KEY)) == 2  # one per tap

    with bot.clore.lock:
        bot.clore.market[SERVER]["min_bid"] = 10.0
    await bot.tap(ALICE, again, "Bid 13.50")
    placed = await bot.edited(ALICE, alert.message_id, 3)
    assert "Bid on #200 at 13.50 CLORE/day sent" in placed.text
    calls = bot.clore.calls_for(CREATE, key=ALICE_KEY)
    assert len(calls) == 3 and calls[-1].body[0]["price"] == 13.5
    outcomes = [(e.action, e.outcome) for e in await bot.audit()]
    assert outcomes == [("create", "rejected"), ("create", "rejected"), ("create", "ok")]


async def test_failed_oc_offers_lowest_power(bot: BotHarness) -> None:
    # clore's machine now takes at most 300 W: the template's 400 W cannot be applied
    alert, edited = await refused_bid(bot, "pl=400", gpus=[{
        "pl": [100, 300], "mem_lock": [405, 10501], "core_lock": [210, 3105],
        "mem_offset": [-2000, 2000], "core_offset": [-1000, 1000], "model": "RTX 4090",
    }])
    assert "could not apply your template's power limit" in edited.text
    assert "Bid with lowest power" in labels(edited)

    await bot.tap(ALICE, edited, "lowest power")
    placed = await bot.edited(ALICE, alert.message_id, 2)
    assert "sent" in placed.text and "lowest power limit" in placed.text
    calls = bot.clore.calls_for(CREATE, key=ALICE_KEY)
    assert len(calls) == 2 and calls[-1].body[0]["oc"] == [{"pl": 100}]


async def test_failed_rent_offers_to_watch_the_machine(bot: BotHarness) -> None:
    alert, edited = await refused_bid(bot, max_rental_length=0)
    assert "cannot be rented right now" in edited.text
    assert "👁 Watch #200" in labels(edited)

    await bot.tap(ALICE, edited, "Watch #200")
    watching = await bot.edited(ALICE, alert.message_id, 2)
    assert "saved" in watching.text
    assert [r.text for r in await bot.rules_of(ALICE)] == ["gpu=4090", "server=200"]
    assert len(bot.clore.calls_for(CREATE, key=ALICE_KEY)) == 1  # watching spends nothing


async def outbid_alert(bot: BotHarness):  # type: ignore[no-untyped-def]
    from tests.bot.test_order_life import last_message, put, texts_after_cycle

    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=10.0, rival=12.0)
    await texts_after_cycle(bot)
    return last_message(bot, "Outbid")


async def test_edit_too_low_offers_a_raise_above_the_refused_price(bot: BotHarness) -> None:
    alert = await outbid_alert(bot)
    with bot.clore.lock:
        bot.clore.market["300"]["min_bid"] = 100.0  # clore now refuses 12.5
    await bot.tap(ALICE, alert, "Raise to 12.50")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "refused 12.50 CLORE/day as too low" in edited.text
    assert "Raise to 13.00" in labels(edited)
    assert len(bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)) == 1

    with bot.clore.lock:
        bot.clore.market["300"]["min_bid"] = 5.0
    await bot.tap(ALICE, edited, "Raise to 13.00")  # the market says 12.5 leads: clore refused it
    raised = await bot.edited(ALICE, alert.message_id, 2)
    assert "raised to 13.00 CLORE/day" in raised.text
    edits = [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)]
    assert edits == [[{"order_id": 9001, "price": 12.5}], [{"order_id": 9001, "price": 13.0}]]


async def test_edit_failed_to_update_offers_to_watch(bot: BotHarness) -> None:
    alert = await outbid_alert(bot)
    with bot.clore.lock:  # the order ended on clore's side; the snapshot does not show it
        bot.clore.market["300"]["bids"] = [
            b for b in bot.clore.market["300"]["bids"] if b["id"] != 9001
        ]
    await bot.tap(ALICE, alert, "Raise to 12.50")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "could not update order 9001" in edited.text
    assert "👁 Watch #300" in labels(edited)
