"""Suggestions for people learning the rule language (pure)."""

from __future__ import annotations

import pytest

from bot.market.rules import parse_rule
from bot.market.suggest import closest, guess_rule, mistyped_key, nearest_key, unmatched_values

VALUES = {
    "gpu": {"RTX 4090", "RTX 4090 D", "RTX 3090", "GTX 1660"},
    "cpu": {"AMD Ryzen 9 7950X"},
    "cc": {"DE", "RU"},
}


def test_a_model_typed_without_spaces_suggests_the_market_name() -> None:
    (found,) = unmatched_values(parse_rule("gpu=RTX4090"), VALUES)
    assert found.key == "gpu" and found.suggestions[0] == "RTX 4090"


def test_values_that_exist_are_not_reported() -> None:
    assert unmatched_values(parse_rule("gpu=4090 cc=DE cpu=ryzen"), VALUES) == []


def test_a_country_name_suggests_its_code() -> None:
    (found,) = unmatched_values(parse_rule("cc=Germany"), VALUES)
    assert found.suggestions == ("DE",)


def test_closest_puts_containing_names_first() -> None:
    assert closest("4090", VALUES["gpu"])[:2] == ["RTX 4090", "RTX 4090 D"]


@pytest.mark.parametrize(("typed", "key"), [("pric", "price"), ("gpuz", "gpu"),
                                            ("country", "cc"), ("xyzzy", None)])
def test_nearest_key(typed: str, key: str | None) -> None:
    assert nearest_key(typed) == key


def test_mistyped_key_of_a_condition() -> None:
    assert mistyped_key("pric<30") == ("pric", "price")
    assert mistyped_key("price<30") is None


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("4090 under 30", "gpu=4090 price<30"),
        ("2x 3090 below 25.5 in DE", "gpu=3090 gpus>=2 price<25.5 cc=DE"),
        ("A100 до 40", "gpu=A100 price<40"),
        ("hello there", None),
    ],
)
def test_guess_rule(text: str, rule: str | None) -> None:
    assert guess_rule(text) == rule
    if rule is not None:
        parse_rule(rule)  # a guess is always a valid rule
