"""/template, /history, the Bid button on match alerts and its confirmation."""

from __future__ import annotations

import re

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotHarness
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import ChatMessage


async def test_template_is_set_edited_and_shown(bot: BotHarness) -> None:
    empty = await bot.ask(ALICE, "/template")
    assert "no order template" in empty.text

    saved = await bot.ask(ALICE, "/template image=ubuntu pl=min env=TOKEN:s3cret")
    assert "Template saved" in saved.text and "Ubuntu" in saved.text
    assert "s3cret" not in saved.text  # env values may be secrets

    edited = await bot.ask(ALICE, "/template pl=250", expect="Template saved")
    assert "250 W per GPU" in edited.text and "Ubuntu" in edited.text  # the rest is kept

    shown = await bot.ask(ALICE, "/template")
    assert "250 W per GPU" in shown.text and "TOKEN" in shown.text


async def test_a_bad_template_is_refused_in_plain_words(bot: BotHarness) -> None:
    answer = await bot.ask(ALICE, "/template pl=min")  # no image and nothing to edit
    assert "image" in answer.text
    assert "no order template" in (await bot.ask(ALICE, "/template")).text


async def test_history_is_empty_at_first(bot: BotHarness) -> None:
    assert "No order actions" in (await bot.ask(ALICE, "/history")).text


SERVER, RIVAL_ORDER = "200", 8001
STEP = 0.5  # the default raise step


def put_server(bot: BotHarness, server_id: str = SERVER, *, rival: float = 12.0,
               extra_bids: list[dict[str, object]] | None = None, **fields: object) -> None:
    with bot.clore.lock:
        bot.clore.market[server_id] = make_server(
            min_bid=10.0, bids=[make_bid(RIVAL, RIVAL_ORDER, rival), *(extra_bids or [])],
            **fields,
        )


async def match_alert(bot: BotHarness, *, link: bool = True, template: bool = True,
                      ) -> ChatMessage:
    """Alice watches 4090s (linked, with a template unless told); server 200 appears."""
    if link:
        await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    if template:
        await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    put_server(bot)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    alerts = [m for m in bot.telegram.bot_messages(ALICE) if "new machine" in m.text]
    assert len(alerts) == 1 and bot.sent_texts(ALICE, since=mark)
    return alerts[0]


def listed_price(alert: ChatMessage, server_id: str = SERVER) -> float:
    line = next(line for line in alert.text.splitlines() if f"#{server_id} " in line)
    return float(re.search(r"· (?:to win )?([\d.,]+) CLORE/day", line).group(1).replace(",", ""))  # type: ignore[union-attr]


async def test_match_alert_of_a_user_with_a_template_has_a_bid_button(bot: BotHarness) -> None:
    alert = await match_alert(bot)

    labels = [label for label, _ in alert.buttons]
    price = listed_price(alert) + STEP
    assert labels == [f"Bid #{SERVER} at {price:.2f}", "ℹ️ Details", "🔕 Mute rule 1"]


async def test_no_bid_button_without_a_template_or_a_linked_key(bot: BotHarness) -> None:
    assert [label for label, _ in (await match_alert(bot, template=False)).buttons] == [
        "ℹ️ Details", "🔕 Mute rule 1"
    ]


async def test_no_bid_button_without_a_linked_key(bot: BotHarness) -> None:
    labels = [label for label, _ in (await match_alert(bot, link=False)).buttons]
    assert not any(label.startswith("Bid") for label in labels)


async def test_a_double_tap_on_bid_creates_exactly_one_order(bot: BotHarness) -> None:
    alert = await match_alert(bot)
    price = listed_price(alert) + STEP

    first = await bot.tap(ALICE, alert, "Bid")
    second = await bot.tap(ALICE, alert, "Bid")
    edited = await bot.edited(ALICE, alert.message_id, 1)

    assert "already used" in second and "already used" not in first
    assert "Bid on #200" in edited.text and "sent" in edited.text
    calls = bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)
    assert len(calls) == 1
    audit = [e for e in await bot.audit() if e.action == "create"]
    assert [(e.outcome, e.server_id, e.price) for e in audit] == [("ok", SERVER, price)]
    history = await bot.ask(ALICE, "/history")
    assert f"create on #{SERVER} at {price:.2f} CLORE/day: done" in history.text


async def test_bid_rechecks_the_market_and_offers_a_fresh_price(bot: BotHarness) -> None:
    alert = await match_alert(bot)
    put_server(bot, rival=30.0)  # a rival overtook the button's price meanwhile
    await bot.publish_and_cycle()

    await bot.tap(ALICE, alert, "Bid")
    edited = await bot.edited(ALICE, alert.message_id, 1)

    assert "no longer leads" in edited.text
    assert bot.clore.calls_for("create_gigaspot_orders") == []
    fresh = next(label for label, _ in edited.buttons if label.startswith("Bid"))
    assert float(fresh.rsplit(" ", 1)[1]) > 30.0


async def test_bid_above_the_price_cap_asks_first(bot: BotHarness) -> None:
    await bot.ask(ALICE, "/settings cap 5", expect="Settings")
    alert = await match_alert(bot)

    await bot.tap(ALICE, alert, "Bid")
    asked = await bot.edited(ALICE, alert.message_id, 1)
    assert "above your cap" in asked.text
    assert bot.clore.calls_for("create_gigaspot_orders") == []

    await bot.tap(ALICE, asked, "Yes, bid")
    done = await bot.edited(ALICE, alert.message_id, 2)
    assert "sent" in done.text
    assert len(bot.clore.calls_for("create_gigaspot_orders")) == 1


async def test_clore_refusal_is_reported_in_plain_words(bot: BotHarness) -> None:
    alert = await match_alert(bot)
    with bot.clore.lock:
        bot.clore.market[SERVER]["min_bid"] = 100.0  # clore now refuses the price

    await bot.tap(ALICE, alert, "Bid")
    edited = await bot.edited(ALICE, alert.message_id, 1)

    assert "refused 12.50 CLORE/day as too low" in edited.text
    assert "Bid 13.00" in [label for label, _ in edited.buttons]  # the fix: the price that leads
    assert [e.outcome for e in await bot.audit()] == ["rejected"]


async def placed_order(bot: BotHarness, alert: ChatMessage) -> int:
    await bot.tap(ALICE, alert, "Bid")
    await bot.edited(ALICE, alert.message_id, 1)
    with bot.clore.lock:
        return max(b["id"] for b in bot.clore.market[SERVER]["bids"] if b["owner"] == ALICE_CLORE)


async def test_the_new_order_is_recognised_in_the_next_snapshot(bot: BotHarness) -> None:
    alert = await match_alert(bot)
    order_id = await placed_order(bot, alert)

    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    texts = [re.sub(r"<[^>]+>", "", t) for t in bot.sent_texts(ALICE, since=mark)]
    assert any(f"Your order {order_id} on #{SERVER} is in the market: leading" in t
               for t in texts), texts

    mark = bot.telegram.mark()
    await bot.publish_and_cycle()  # told once
    assert not any("Your order" in t for t in bot.sent_texts(ALICE, since=mark))


async def test_an_order_already_there_is_not_taken_for_the_new_one(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    put_server(bot, extra_bids=[make_bid(ALICE_CLORE, 100, 11.0)])  # an older order of hers
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "new machine" in m.text)

    order_id = await placed_order(bot, alert)
    assert order_id != 100
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    assert any(f"Your order {order_id} on" in t for t in bot.sent_texts(ALICE, since=mark))


async def test_an_order_that_never_shows_up_is_given_up_after_ten_minutes(
    bot: BotHarness,
) -> None:
    alert = await match_alert(bot)
    bot.clore.fail("create_gigaspot_orders", "drop")  # not applied, and no answer
    await bot.tap(ALICE, alert, "Bid")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "did not confirm" in edited.text
    assert [e.outcome for e in await bot.audit()] == ["ambiguous"]

    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    assert not any("Your" in t for t in bot.sent_texts(ALICE, since=mark))

    bot.clock.advance(11 * 60)
    await bot.publish_and_cycle()
    texts = bot.sent_texts(ALICE, since=mark)
    assert sum("has not shown up" in t for t in texts) == 1, texts
    assert len(bot.clore.calls_for("create_gigaspot_orders")) == 1  # never repeated


async def test_a_template_that_does_not_fit_the_server_sends_nothing(bot: BotHarness) -> None:
    alert = await match_alert(bot)
    # Another machine takes 500 W, so the template is accepted; server 200 allows 100-450.
    put_server(bot, "900", gpu_model="A100", pl=(100, 600))
    await bot.publish_and_cycle()
    await bot.ask(ALICE, "/template pl=500", expect="Template saved")

    await bot.tap(ALICE, alert, "Bid")
    edited = await bot.edited(ALICE, alert.message_id, 1)

    assert "does not fit server 200" in edited.text and "Nothing was sent" in edited.text
    assert bot.clore.calls_for("create_gigaspot_orders") == []


async def test_an_unconfirmed_create_is_not_repeated_and_still_recognised(
    bot: BotHarness,
) -> None:
    alert = await match_alert(bot)
    bot.clore.fail("create_gigaspot_orders", "drop", apply=True)  # placed, answer lost

    order_id = await placed_order(bot, alert)
    assert "did not confirm" in bot.telegram.message(ALICE, alert.message_id).text

    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    texts = [re.sub(r"<[^>]+>", "", t) for t in bot.sent_texts(ALICE, since=mark)]
    assert any(f"Your order {order_id} on #{SERVER} is in the market" in t for t in texts)
    assert len(bot.clore.calls_for("create_gigaspot_orders")) == 1


async def test_bidding_on_one_machine_keeps_the_other_bid_buttons(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    put_server(bot)
    put_server(bot, "201", rival=14.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "new machines" in m.text)
    assert [label.split(" at ")[0] for label, _ in alert.buttons] == [
        "Bid #200", "Bid #201", "ℹ️ Details", "🔕 Mute rule 1"
    ]

    await bot.tap(ALICE, alert, "Bid #200")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert [label.split(" at ")[0] for label, _ in edited.buttons] == [
        "Bid #201", "ℹ️ Details", "🔕 Mute rule 1"
    ]

    await bot.tap(ALICE, edited, "Bid #201")
    assert [label for label, _ in (await bot.edited(ALICE, alert.message_id, 2)).buttons] == [
        "ℹ️ Details", "🔕 Mute rule 1"
    ]
    assert len(bot.clore.calls_for("create_gigaspot_orders")) == 2
