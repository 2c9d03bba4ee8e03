from __future__ import annotations

import json
import math
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import translator
from bot.market.ranking import price_to_win
from bot.market.snapshot import Bid, Gpu, Server, decode_snapshot
from bot.orders.template import (
    ENV_MAX_KEY,
    ENV_MAX_SERIALISED,
    ENV_MAX_VALUE,
    HIVEOS_IMAGE,
    MAX_PRICE,
    MIN_PRICE,
    OVERCLOCK_FIELDS,
    UBUNTU_IMAGE,
    Template,
    TemplateError,
    build_order,
    format_template,
    order_pl,
    parse_template,
    price_to_lead,
    serialise_env,
)
from bot.telegram.render.orders import describe_template

SEED = Path(__file__).resolve().parents[1] / "data" / "seed-snapshot.json"
IMAGE = "6771db990479c1fac87da6cc"


@pytest.fixture(scope="module")
def seed_servers() -> dict[str, Server]:
    return decode_snapshot(SEED.read_bytes()).servers


def _server(gpus: list[Gpu], bids: tuple[Bid, ...] = (), min_bid: float = 1.0) -> Server:
    return Server(
        bids=bids, on_demand_rented=False, online=True, cpu="cpu", cores=4, threads=8,
        ram=32.0, gpus=tuple(gpus), working_properly=True, cuda="12.4",
        max_rental_length=86400, cc="DE", host=1, reliability=0.99, min_bid=min_bid,
        energy_price=0.1,
    )  # fmt: skip


# ------------------------------------------------------------------------------ parsing


def test_parses_the_issue_example() -> None:
    template = parse_template(
        "image=ubuntu pl=min core_offset=100 env=KEY:VALUE,K2:V2 currency=CLORE-Blockchain"
    )
    assert template == Template(
        image=UBUNTU_IMAGE, power="min", core_offset=100, env={"KEY": "VALUE", "K2": "V2"}
    )


def test_images_watts_keys_and_quotes() -> None:
    assert parse_template("IMAGE=HiveOS").image == HIVEOS_IMAGE
    template = parse_template(
        f"image={IMAGE.upper()} PL=250 core_lock=1500 mem_lock=5000 mem_offset=-500 "
        f'env=URL:http://x.io/a?b=1,MSG:"hello, world",Q:"say \\"hi\\"",EMPTY:'
    )
    assert template.image == IMAGE
    assert (template.power, template.core_lock, template.mem_lock) == (250, 1500, 5000)
    assert template.mem_offset == -500 and template.core_offset is None
    assert template.env == {
        "URL": "http://x.io/a?b=1", "MSG": "hello, world", "Q": 'say "hi"', "EMPTY": ""
    }  # fmt: skip
    assert template.currency == "CLORE-Blockchain"


def test_editing_changes_only_what_is_given() -> None:
    base = parse_template("image=ubuntu pl=200 core_offset=100 env=A:1")
    edited = parse_template("pl=min core_offset=none mem_lock=5000", base)
    assert edited == Template(image=UBUNTU_IMAGE, power="min", mem_lock=5000, env={"A": "1"})
    assert parse_template("env=none", base).env == {}


@pytest.mark.parametrize(
    ("text", "part", "words"),
    [
        ("pl=200", "image", "image"),
        ("image=debian", "image=debian", "24-character"),
        (f"image={IMAGE}0", f"image={IMAGE}0", "24-character"),
        ("image=ubuntu colour=red", "colour", "unknown setting"),
        ("image=ubuntu pl=200 PL=300", "PL=300", "twice"),
        ("image=ubuntu pl=0", "pl=0", "between"),
        ("image=ubuntu pl=150.5", "pl=150.5", "whole number"),
        ("image=ubuntu pl=max", "pl=max", "whole number"),
        ("image=ubuntu core_offset=fast", "core_offset=fast", "whole number"),
        ("image=ubuntu core_lock=none2", "core_lock=none2", "whole number"),
        ("image=ubuntu overclock", "overclock", "expected a setting"),
        ("image=ubuntu env=KEY", "env", "KEY:VALUE"),
        ("image=ubuntu env=A:1,,B:2", "env", "item 2 is empty"),
        ("image=ubuntu env=1A:x", "env", "variable name"),
        ("image=ubuntu env=A:1,A:2", "env", "twice"),
        ('image=ubuntu env=A:"open', "env", "not closed"),
        ("image=ubuntu env=A:1 env=B:2", "env", "twice"),
        ("image=ubuntu currency=", "currency=", "currency"),
        ("image=ubuntu pl=min=3", "pl=min=3", "whole number"),
    ],
)
def test_errors_name_the_offending_part(text: str, part: str, words: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(text)
    assert caught.value.part == part
    assert words in str(caught.value)


SECRET = "hunter2secret"


@pytest.mark.parametrize(
    "text",
    [
        f"image=ubuntu env=PASS:{SECRET},{SECRET}",
        f"image=ubuntu env=PASS:{SECRET},,B:1",
        f'image=ubuntu env=PASS:"{SECRET}',
        f'image=ubuntu env=PASS:"{SECRET} pl=min',
        f"image=ubuntu env=PASS:my {SECRET}",
        f"image=ubuntu env=PASS:{SECRET},PASS:{SECRET}",
        f"image=ubuntu env=PASS:{SECRET},1A:{SECRET}",
        f"image=ubuntu envs=PASS:{SECRET}",
        f"image=ubuntu env=PASS:{SECRET} env=B:{SECRET}",
        f"image=ubuntu env=PASS:{SECRET * 200}",
    ],
)
def test_env_errors_never_repeat_a_value(text: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(text)
    assert SECRET not in str(caught.value) and SECRET not in caught.value.part


@pytest.mark.parametrize(
    "text",
    ["image=ubuntu pl=" + "9" * 4000, "image=ubuntu core_lock=" + "1" * 5000,
     "image=ubuntu pl=²", "image=ubuntu pl=١٢٣", "image=" + "x" * 4000,
     "image=ubuntu currency=" + "<b>" * 1000, "x" * 4000, "image=ubuntu " + '"' * 3],
)  # fmt: skip
def test_hostile_input_gets_a_short_error(text: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(text)
    assert len(str(caught.value)) < 300


def test_env_limits() -> None:
    long_key = "K" * (ENV_MAX_KEY + 1)
    with pytest.raises(TemplateError, match="over 128"):
        parse_template(f"image=ubuntu env={long_key}:1")
    parse_template(f"image=ubuntu env={'K' * ENV_MAX_KEY}:1")
    with pytest.raises(TemplateError, match="over 1536"):
        parse_template(f"image=ubuntu env=A:{'v' * (ENV_MAX_VALUE + 1)}")
    parse_template(f"image=ubuntu env=A:{'v' * ENV_MAX_VALUE}")
    # Every value within its limit, but together too large for clore.
    items = ",".join(f"K{i}:{'v' * ENV_MAX_VALUE}" for i in range(8))
    env = dict(item.split(":") for item in items.split(","))
    assert len(serialise_env(env)) >= ENV_MAX_SERIALISED
    with pytest.raises(TemplateError, match="too large"):
        parse_template(f"image=ubuntu env={items}")
    assert json.loads(serialise_env({"A": "é"})) == {"A": "é"}


def test_describe_hides_env_values() -> None:
    template = parse_template("image=hiveos pl=120 env=PASSWORD:hunter2")
    text = describe_template(translator("en"), template)
    assert "HiveOS" in text and "120 W per GPU" in text and "PASSWORD" in text
    assert "hunter2" not in text


# --------------------------------------------------------------------------- round trip

env_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
env_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
overclock = st.none() | st.integers(-5000, 5000)
templates = st.builds(
    Template,
    image=st.sampled_from([UBUNTU_IMAGE, HIVEOS_IMAGE])
    | st.from_regex(r"[0-9a-f]{24}", fullmatch=True),
    power=st.just("min") | st.integers(1, 1000),
    core_lock=overclock,
    mem_lock=overclock,
    core_offset=overclock,
    mem_offset=overclock,
    env=st.dictionaries(env_keys, env_values, max_size=5),
    currency=st.sampled_from(["CLORE-Blockchain", "bitcoin", "USD-Blockchain"]),
)


@given(templates)
def test_format_round_trips(template: Template) -> None:
    assert parse_template(format_template(template)) == template


# ------------------------------------------------------------------- orders on a server


def test_build_order_on_the_seed_servers(seed_servers: dict[str, Server]) -> None:
    template = parse_template("image=ubuntu pl=min core_offset=100 env=KEY:VALUE")
    order = build_order(template, "35083", seed_servers["35083"], 14.0)
    assert order.renting_server == 35083 and order.price == 14.0
    assert [oc.pl for oc in order.oc] == [70] * 8
    assert all(oc.core_offset == 100 and oc.core_lock is None for oc in order.oc)
    body = json.loads(msgspec.json.encode([order]))
    assert body == [
        {
            "renting_server": 35083,
            "price": 14.0,
            "image": UBUNTU_IMAGE,
            "oc": [{"pl": 70, "core_offset": 100}] * 8,
            "currency": "CLORE-Blockchain",
            "env": {"KEY": "VALUE"},
        }
    ]
    rtx = build_order(parse_template("image=hiveos pl=400"), "40329", seed_servers["40329"], 20)
    assert "env" not in json.loads(msgspec.json.encode(rtx))
    assert [oc.pl for oc in rtx.oc] == [400]


def test_build_order_explains_what_does_not_fit(seed_servers: dict[str, Server]) -> None:
    # GPUs 2 and 3 of 35083 stop at 90 W; the core offset ends at +100 on every GPU.
    template = parse_template("image=ubuntu pl=95 core_offset=150")
    with pytest.raises(TemplateError) as caught:
        build_order(template, "35083", seed_servers["35083"], 14.0)
    message = str(caught.value)
    assert caught.value.part == "35083"
    assert "GPUs 2-3 (GTX 1660 SUPER) allow 70 to 90 W, not 95 W" in message
    assert "GPUs 1-8 (GTX 1660 SUPER) allow a core offset of -1000 to 100 MHz, not 150" in message
    with pytest.raises(TemplateError, match="GPU 1 \\(RTX 4090\\) allows 150 to 450 W"):
        build_order(parse_template("image=ubuntu pl=100"), "40329", seed_servers["40329"], 14)


@pytest.mark.parametrize("price", [0.0, MIN_PRICE / 2, MAX_PRICE + 0.01, math.nan, math.inf])
def test_build_order_rejects_prices_clore_refuses(
    seed_servers: dict[str, Server], price: float
) -> None:
    with pytest.raises(TemplateError) as caught:
        build_order(parse_template("image=ubuntu"), "40329", seed_servers["40329"], price)
    assert caught.value.part == "price"


@pytest.mark.parametrize("price", [MIN_PRICE, MAX_PRICE])
def test_build_order_accepts_clore_price_limits(
    seed_servers: dict[str, Server], price: float
) -> None:
    assert build_order(parse_template("image=ubuntu"), "40329", seed_servers["40329"], price)


def test_build_order_needs_gpus_and_a_numeric_id(seed_servers: dict[str, Server]) -> None:
    with pytest.raises(TemplateError, match="no GPUs"):
        build_order(parse_template("image=ubuntu"), "1", _server([]), 5.0)
    with pytest.raises(TemplateError, match="not a server id"):
        build_order(parse_template("image=ubuntu"), "x1", seed_servers["40329"], 5.0)


def test_min_power_rounds_a_fractional_floor_up() -> None:
    server = _server([Gpu("A", (70.4, 71.0)), Gpu("B", (70.4, 70.6))])
    template = parse_template("image=ubuntu pl=min")
    with pytest.raises(TemplateError, match="GPU 2 \\(B\\) has no whole-watt limit"):
        build_order(template, "7", server, 5.0)
    assert order_pl(template, server) == 142.0


def test_unknown_ranges_pass_the_value_through() -> None:
    server = _server([Gpu("A", (100, 200))])  # no overclock ranges published
    order = build_order(parse_template("image=ubuntu core_lock=99999"), "7", server, 5.0)
    assert order.oc[0].core_lock == 99999


range_pairs = st.tuples(st.integers(-3000, 3000), st.integers(0, 3000)).map(
    lambda lo_width: (float(lo_width[0]), float(lo_width[0] + lo_width[1]))
)
gpus = st.builds(
    Gpu,
    model=st.sampled_from(["RTX 3090", "RTX 4090", "A100 {x}"]),
    pl=st.tuples(st.integers(50, 300), st.integers(0, 300)).map(
        lambda lo_w: (float(lo_w[0]), float(lo_w[0] + lo_w[1]))
    ),
    core_lock=st.none() | range_pairs,
    mem_lock=st.none() | range_pairs,
    core_offset=st.none() | range_pairs,
    mem_offset=st.none() | range_pairs,
)


def _fits(template: Template, gpu: Gpu) -> bool:
    watts = gpu.pl[0] if template.power == "min" else template.power
    if not gpu.pl[0] <= watts <= gpu.pl[1]:
        return False
    for name in OVERCLOCK_FIELDS:
        value, limits = getattr(template, name), getattr(gpu, name)
        if value is not None and limits is not None and not limits[0] <= value <= limits[1]:
            return False
    return True


@given(templates, st.lists(gpus, min_size=1, max_size=6))
def test_build_order_accepts_exactly_the_templates_that_fit(
    template: Template, server_gpus: list[Gpu]
) -> None:
    server = _server(server_gpus)
    fits = all(_fits(template, gpu) for gpu in server_gpus)
    try:
        order = build_order(template, "123", server, 10.0)
    except TemplateError as exc:
        assert not fits, str(exc)
        assert "server 123" in str(exc)
        return
    assert fits
    assert len(order.oc) == len(server_gpus)
    for oc, gpu in zip(order.oc, server_gpus, strict=True):
        assert gpu.pl[0] <= oc.pl <= gpu.pl[1]
        for name in OVERCLOCK_FIELDS:
            assert getattr(oc, name) == getattr(template, name)
    assert order_pl(template, server) == sum(oc.pl for oc in order.oc)


def test_price_to_lead_matches_price_to_win_at_min_power() -> None:
    competitor = Bid(owner=9, id=1, active=True, price=30.0, pl=500)
    server = _server([Gpu("A", (100, 300)), Gpu("A", (120, 300))], bids=(competitor,))
    at_min = parse_template("image=ubuntu pl=min")
    for clore_price in (None, 0.02):
        assert price_to_lead(at_min, server, clore_price, 1) == price_to_win(server, clore_price, 1)
    # More watts cost the host more energy: the same lead needs a higher price.
    hungry = parse_template("image=ubuntu pl=300")
    assert price_to_lead(hungry, server, 0.02, 1) > price_to_lead(at_min, server, 0.02, 1)
    assert price_to_lead(hungry, server, None, 1) == price_to_lead(at_min, server, None, 1)
    assert price_to_lead(hungry, server, 0.02, 9) == server.min_bid  # own bid is no competitor
