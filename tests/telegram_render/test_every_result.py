"""Every typed result and alert event renders in both languages into HTML Telegram takes:
nothing a service or the cycle returns can reach a user unrendered or untranslated."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.i18n import LANGUAGES, Say, translator
from bot.market.ranking import bid_standing
from bot.market.snapshot import Server, decode_snapshot
from bot.market.suggest import GpuModel
from bot.orders.protection import AtCap, OverBudget, ProtectionSettings, RateLimited
from bot.orders.template import parse_template
from bot.services import events as ev
from bot.services import results as res
from bot.services.alert_prefs import AlertPrefs
from bot.services.payloads import Builder, ServerPrice
from bot.services.taps import KINDS
from bot.telegram.render import account, alerts, bids, orders, protection, rules, taps
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import html_to_text

T0 = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


def _server() -> Server:
    data = json.dumps(
        {"7": make_server(min_bid=5.0, bids=[make_bid(42, 900, 15.0), make_bid(77, 901, 20.0)])}
    ).encode()
    return decode_snapshot(data).servers["7"]


SERVER = _server()
STANDING = bid_standing("7", SERVER, SERVER.bids[0], None)
ITEMS = [ev.MatchItem(1, 'gpu="RTX 4090"', "7", SERVER, 20.5)]
HELD: list[ev.ProtectionHeld] = [
    AtCap(30.0, 25.0),
    OverBudget(21.0, 1.0, 0.5),
    RateLimited(21.0, T0),
    ev.ProtectionFailed(21.0, "ambiguous", Say("clore.ai did not say why.")),
    ev.ProtectionFailed(21.0, "error", Say("clore.ai did not say why.")),
]
NOTICES: list[ev.Notice] = [
    ev.MatchAlert(ITEMS, 10),
    ev.MatchAlert(ITEMS * 3, 1, total=12),
    ev.OutbidAlert(STANDING, SERVER, 20.5),
    *(ev.OutbidAlert(STANDING, None, 20.5, held) for held in HELD),
    ev.AutoRaised(900, "7", 20.5, 20.0),
    ev.AutoRaised(900, "7", 20.5, None),
    ev.MarketStale(600.0),
    ev.MarketStale(60.0),
    ev.MarketStale(None),
    ev.MarketFresh(),
    ev.OrderInMarket(STANDING),
    ev.OrderNotShown("7", 12.5),
    ev.KeyNeedsLink(),
    *(ev.Interrupted(action, automatic, 900, "7", 12.5)
      for action, automatic in [("create", False), ("cancel", False), ("raise", False),
                                ("raise", True)]),
]  # fmt: skip
VIEWS: list[Any] = [
    res.BidView(STANDING, SERVER),
    res.RulesView([(1, "gpu=4090", False), (2, "cc=DE", True)], 0),
    res.ProtectHint(900, 25.0),
    res.LanguageView(),
    res.SettingsView(
        res.Profile(1, 42, 0.5, 40.0, False),
        AlertPrefs({"match": "silent", "outbid": "off"}, True, datetime(2030, 1, 1, tzinfo=UTC),
                   23 * 60, 7 * 60, "Europe/Berlin"),
        datetime(2029, 12, 31, 22, 30, tzinfo=UTC),
    ),
    *(res.BuilderView(step, 'gpu="RTX 4090"' if step != "gpu" else "", 3,
                      [res.Choice(Say("{n}+ GPUs", n=2), Builder(step="price", gpus=2))])
      for step in ("gpu", "count", "price", "rel", "cc", "done")),
    res.BuilderView("gpu", "", 0, [], ready=False),
    res.GpusView(None),
    res.DetailsView([]),
    res.MarketView("gpu=4090", [], 0, 0, 5, [], ready=False),
    res.MarketView("gpu=4090", [], 12, 5, 5, [ServerPrice("7", 12.5)]),
    res.GpusView([GpuModel("RTX 4090", 3, 12.5), GpuModel("A100", 0, None)]),
]


def _html(text: str) -> str:
    plain = html_to_text(text)  # raises on anything Telegram would refuse
    assert plain.strip()
    return plain


def _types(union: Any) -> set[type]:
    return set(typing.get_args(union))


def test_the_samples_cover_every_type() -> None:
    assert {type(n) for n in NOTICES} == _types(ev.Notice)
    assert {type(h) for h in HELD} == _types(ev.ProtectionHeld)
    view_union = typing.get_type_hints(res.TapResult)["view"]
    assert {type(v) for v in VIEWS} == _types(view_union) - {type(None)}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_notice_renders(lang: str) -> None:
    tr = translator(lang)
    for event in NOTICES:
        rendered = alerts.notice(tr, event)
        text = _html(rendered.text)
        if lang == "ru":
            assert any("а" <= c <= "я" for c in text.lower()), (event, text)
        for row in rendered.keyboard or []:
            assert all(button.text and button.kind in KINDS for button in row)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_command_result_renders(lang: str) -> None:
    tr = translator(lang)
    template = parse_template("image=hiveos pl=120 core_lock=1500 env=A:secret")
    settings = ProtectionSettings(25.0, 3)
    texts = [
        account.help_text(tr),
        account.settings_text(tr, res.Profile(1, None, 0.5, None, False)),
        account.settings_text(tr, res.Profile(1, 42, 0.5, 40.0, True, key_unreadable=True)),
        account.linked(tr, 42, deleted=False),
        bids.own_bid(tr, res.OwnBid(STANDING, SERVER, 20.5)).text,
        orders.template_shown(tr, None),
        orders.template_shown(tr, template),
        orders.template_saved(tr, res.TemplateSaved(template, lost_env=True)),
        orders.history(tr, []),
        protection.protection_on(tr, res.ProtectionOn(900, "7", settings)),
        protection.protection_off(tr, res.ProtectionOff(900)),
        protection.budget(tr, res.BudgetState(None, 0.0)),
        protection.budget(tr, res.BudgetState(20.0, 1.5)),
        rules.rule_language(tr),
        rules.matches_preview(tr, "gpu=4090", ITEMS, 3, 1),
        rules.market_loading(tr, "gpu=4090"),
        *(page.text for page in rules.rules_pages(tr, [])),
    ]
    for text in texts:
        _html(text)
    assert "secret" not in orders.template_shown(tr, template)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_tap_result_renders(lang: str) -> None:
    tr = translator(lang)
    button = res.TapButton(Say("Raise to {price}", price=20.5), "raise", {})
    for view in [None, *VIEWS]:
        result = res.TapResult(Say("Raised"), Say("Order {order_id} is not protected.",
                                                  order_id=900), [[button]], view)
        answer = taps.answer(tr, result)
        assert answer is not None
        _html(answer.text)
        assert taps.toast(tr, result)


def test_a_template_that_does_not_fit_is_explained_in_russian() -> None:
    from bot.orders.template import TemplateError, build_order
    from bot.telegram.render.common import say

    template = parse_template("image=ubuntu pl=900")
    with pytest.raises(TemplateError) as raised:
        build_order(template, "7", SERVER, 20.0)
    text = html_to_text(say(translator("ru"), raised.value.say))
    assert text.startswith("Ваш шаблон не подходит к серверу 7: GPU 1 (")
    assert "а не 900 Вт" in text
