"""Texts the bot sends: well-formed Telegram HTML, escaped values, limits and counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.i18n import translator
from bot.market.ranking import bid_standing
from bot.market.snapshot import Server, decode_snapshot
from bot.services.events import MarketFresh, MarketStale, MatchAlert, MatchItem, OutbidAlert
from bot.services.results import Profile
from bot.telegram.render import account, alerts, bids, common, rules
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import html_to_text

EN = translator("en")


def match_alert(items: list[MatchItem], limit: int) -> str:
    return alerts.match_alert(EN, MatchAlert(items, limit))


def server(**fields: Any) -> Server:
    data = json.dumps({"1": make_server(**fields)}).encode()
    return decode_snapshot(data).servers["1"]


def item(server_id: str, price: float, rule_id: int = 1, rule: str = "gpu=4090",
         **fields: Any) -> MatchItem:
    return MatchItem(rule_id, rule, server_id, server(**fields), price)


@pytest.mark.parametrize(("amount", "text"), [(0, "0.00"), (12.5, "12.50"), (20.0, "20.00"),
                                              (12.301, "12.301"),
                                              (1234.56789, "1,234.5679")])
def test_clore_amounts(amount: float, text: str) -> None:
    assert common.clore(amount) == text


def test_match_alert_lists_the_cheapest_machines_up_to_the_limit() -> None:
    items = [item(str(sid), price) for sid, price in [(5, 30.0), (6, 11.0), (7, 14.0), (8, 9.0)]]
    text = html_to_text(match_alert(items, limit=2))

    assert "4 new machines match" in text
    assert text.index("#8") < text.index("#6")
    assert "#5" not in text and "#7" not in text
    assert "and 2 more" in text


def test_match_alert_shows_a_machine_matched_by_two_rules_once() -> None:
    items = [item("5", 10.0, 1, "gpu=4090"), item("5", 10.0, 2, "price<20"),
             item("6", 12.0, 2, "price<20")]
    text = html_to_text(match_alert(items, limit=5))

    assert "2 new machines match" in text
    assert text.count("#5") == 1 and "#6" in text
    assert "more" not in text


def test_one_match_is_singular_and_has_no_remainder() -> None:
    text = html_to_text(match_alert([item("5", 10.0)], limit=1))
    assert "1 new machine matches" in text and "more" not in text


def test_dynamic_values_are_escaped() -> None:
    hostile = item("5", 10.0, rule='gpu="<b>&"', gpu_model="RTX <4090> & co", cpu="<script>",
                   cc="<>")
    cases = [
        (match_alert([hostile], limit=1), ['gpu="<b>&"', "RTX <4090> & co", "<>"]),
        (rules.rules_list(EN, [(1, 'gpu="a<b" & c', False)]), ['gpu="a<b" & c']),
        (rules.matches_preview(EN, 'gpu="<i>"', [hostile], 1, 5), ['gpu="<i>"', "<4090>"]),
    ]
    for html, shown in cases:
        text = html_to_text(html)  # raises on anything Telegram would refuse
        assert all(value in text for value in shown)


def test_outbid_alert_names_competitor_and_prices() -> None:
    srv = server(min_bid=5.0, bids=[make_bid(42, 900, 15.0), make_bid(77, 901, 20.0)])
    standing = bid_standing("1", srv, srv.bids[0], None)
    text = html_to_text(alerts.outbid_alert(EN, OutbidAlert(standing, srv, 20.5)).text)

    assert "Outbid" in text and "Order 900" in text
    assert "Top competitor: 20.00 CLORE/day" in text
    assert "more than 20.00 · Raise sets 20.50" in text
    assert "outbid by 5.00" in html_to_text(bids.bid_line(EN, standing, srv))


def test_matches_preview_counts_and_truncates() -> None:
    items = [item(str(n), 10.0 + n) for n in range(1, 4)]
    text = html_to_text(rules.matches_preview(EN, "gpu=4090", items, total=7, limit=3))
    assert "7 machines match now" in text and "and 4 more" in text
    assert "No machine matches" in html_to_text(rules.matches_preview(EN, "x", [], 0, 3))


def test_rules_list_marks_paused_rules_and_teaches_when_empty() -> None:
    text = html_to_text(rules.rules_list(EN, [(3, "gpu=4090", True), (4, "cc=DE", False)]))
    assert "3. gpu=4090 ⏸ paused" in text and "4. cc=DE" in text and "4. cc=DE ⏸" not in text
    assert "/watch" in html_to_text(rules.rules_list(EN, []))


def test_fixed_texts_are_valid_html() -> None:
    for html in (account.help_text(EN), rules.rule_language(EN),
                 alerts.notice(EN, MarketFresh()).text, alerts.notice(EN, MarketStale(600)).text,
                 alerts.notice(EN, MarketStale(None)).text,
                 account.settings_text(EN, Profile(1, None, 0.5, None, False)),
                 account.settings_text(EN, Profile(1, 42, 1.25, 40.0, True))):
        assert html_to_text(html).strip()
