"""The order-life texts render in both languages into HTML Telegram takes, every
placeholder filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.i18n import LANGUAGES, translator
from bot.market.snapshot import Bid, Gpu, Server
from bot.orders.power import lead_by_power
from bot.orders.wallet import Runway, WalletLine
from bot.telegram.render import Rendered
from bot.telegram.render import orderlife as render
from tests.fakes.telegram_server import html_to_text

T0 = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
MINE = Bid(owner=7, id=1, active=True, price=25.0, pl=300.0)
SERVER = Server(
    bids=(MINE, Bid(owner=9, id=2, active=True, price=20.0, pl=100.0)), on_demand_rented=False,
    online=True, cpu="cpu", cores=4, threads=8, ram=32.0, gpus=(Gpu("RTX 4090", (100, 450)),),
    working_properly=True, cuda="12.4", max_rental_length=86400, cc="DE", host=1,
    reliability=0.99, min_bid=5.0, energy_price=0.1,
)  # fmt: skip
LEAD = lead_by_power(SERVER, MINE, 0.05)


def _check(text: str) -> None:
    plain = html_to_text(text)  # raises on anything Telegram would refuse
    assert plain.strip() and "{" not in plain and "}" not in plain


def _texts(lang: str) -> list[str]:
    tr = translator(lang)
    assert LEAD is not None
    runway = Runway(10.0, 15.0, 1)
    wallets = [WalletLine("CLORE-Blockchain", 10.0), WalletLine("<b>odd</b>", 1.0)]
    outbid = Rendered("⚠️ <b>Outbid</b>", [])
    texts = [
        render.with_power_offer(tr, outbid, LEAD, "7").text,
        render.power_button(tr, LEAD, "7").text,
        render.auto_power(tr, "7", LEAD),
        render.protect_power_line(tr),
        render.won_alert(tr, 1, "7", 25.0),
        render.lost_alert(tr, 1, "7", True),
        render.lost_alert(tr, 1, "7", False),
        render.balance(tr, wallets, runway, T0, None, timedelta(hours=24)),
        render.balance(tr, wallets, Runway(10.0, 0.0, 0), T0, "HTTP <500>", timedelta(hours=2)),
        render.balance(tr, [], None, T0, None, timedelta(hours=24)),
        render.balance(tr, [], None, None, "timeout", timedelta(hours=24)),
        render.balance(tr, [], None, None, None, timedelta(hours=24)),
        render.low_balance_alert(tr, runway, timedelta(hours=24)),
        render.settings_lines(tr, timedelta(hours=24), timedelta(hours=12)),
    ]
    for source in ("created", "first_seen"):
        for can_bid in (True, False):
            alert = render.expiry_alert(tr, 1, "7", T0, timedelta(hours=11), source, can_bid)
            texts.append(alert.text)
            texts += [b.text for row in alert.keyboard or [] for b in row]
    return texts


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_order_life_text_renders(lang: str) -> None:
    for text in _texts(lang):
        _check(text)


def test_russian_differs_from_english() -> None:
    assert all(en != ru for en, ru in zip(_texts("en"), _texts("ru"), strict=True))


def test_durations_are_rounded_to_the_hour() -> None:
    tr = translator("en")
    assert render.duration(tr, timedelta(minutes=40)) == "40 min"
    assert render.duration(tr, timedelta(hours=3, minutes=59)) == "4 h"
    assert render.duration(tr, timedelta(days=2, hours=1)) == "2 d 1 h"
    assert render.duration(translator("ru"), timedelta(hours=5)) == "5 ч"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_interrupted_power_change_is_named_as_such(lang: str) -> None:
    from bot.services import events as ev
    from bot.telegram.render import alerts

    text = alerts.interrupted(translator(lang), ev.Interrupted("power", True, 9001, "7", 25.0))
    _check(text)
    assert "9001" in text and ("power limit" in text or "мощности" in text)
