"""`/watch` alone: a rule built step by step with buttons from the live market, ending in
the rule's text (so users learn the language), and `/gpus`.

Steps: model (the market's most rentable models) -> how many GPUs -> price ceiling (from
the cheapest prices to win now) -> reliability -> country -> the rule, with a Save button.
The state travels in the buttons' payloads (`bot.services.payloads.Builder`).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

from bot.db.models import User
from bot.i18n import Say
from bot.market.rules import Rule, format_rule, parse_rule
from bot.market.suggest import GpuModel, condition_text, gpu_models
from bot.services.context import ServiceContext
from bot.services.payloads import Builder
from bot.services.results import BuilderView, Choice

STEPS = ("gpu", "count", "price", "rel", "cc", "done")
MAX_MODELS = 8
COUNTS = (1, 2, 4, 8)
RELIABILITIES = (0.0, 95.0, 98.0, 99.0)
PRICE_FACTORS = (1.2, 1.5, 2.0)


def rule_of(b: Builder) -> str:
    parts = []
    if b.gpu:
        parts.append(condition_text("gpu", b.gpu))
    if b.gpus > 1:
        parts.append(f"gpus>={b.gpus}")
    if b.price > 0:
        parts.append(f"price<={b.price:g}")
    if b.rel > 0:
        parts.append(f"rel>={b.rel:g}")
    if b.cc:
        parts.append(b.cc)
    return format_rule(parse_rule(" ".join(parts))) if parts else ""


def _next(b: Builder, **changes: object) -> Builder:
    step = STEPS[STEPS.index(b.step) + 1] if b.step in STEPS[:-1] else "done"
    values = {"step": step, "gpu": b.gpu, "gpus": b.gpus, "price": b.price, "rel": b.rel,
              "cc": b.cc, **changes}  # fmt: skip
    return Builder(**values)  # type: ignore[arg-type]


def _round_up(price: float) -> float:
    """A price users would type: 2 significant digits, rounded up."""
    if price <= 0:
        return 1.0
    scale = 10 ** (math.floor(math.log10(price)) - 1)
    return float(round(math.ceil(price / scale) * scale, 4))


async def models(ctx: ServiceContext, user: User) -> list[GpuModel] | None:
    """The market's GPU models (for /gpus); None before the market is loaded."""
    snapshot = ctx.market.snapshot
    if snapshot is None:
        return None
    pairs = await ctx.market.evaluate(parse_rule("online=yes"), user.clore_user_id)
    prices = {m.server_id: m.price_to_win for m in pairs.matches()}
    return await asyncio.to_thread(gpu_models, snapshot.servers, prices)


async def view(ctx: ServiceContext, user: User, b: Builder) -> BuilderView:
    if ctx.market.snapshot is None:
        return BuilderView(b.step, "", 0, [], ready=False)
    text = rule_of(b)
    prices: list[float] = []
    countries: Counter[str] = Counter()
    if text:
        rule: Rule = parse_rule(text)
        matches = (await ctx.market.evaluate(rule, user.clore_user_id)).matches()
        prices = sorted(m.price_to_win for m in matches)
        for m in matches:
            if (server := ctx.market.server(m.server_id)) is not None:
                countries[server.cc.strip().upper()] += 1
    choices: list[Choice] = []
    match b.step:
        case "gpu":
            found = await models(ctx, user) or []
            for model in [m for m in found if m.rentable][:MAX_MODELS]:
                choices.append(Choice(Say("{model} ({count})", model=model.model,
                                          count=model.rentable), _next(b, gpu=model.model)))
        case "count":
            for n in COUNTS:
                label = Say("1 GPU or more") if n == 1 else Say("{n}+ GPUs", n=n)
                choices.append(Choice(label, _next(b, gpus=n)))
        case "price":
            choices.append(Choice(Say("any price"), _next(b, price=0.0)))
            if prices:
                ceilings = sorted({_round_up(prices[0] * f) for f in PRICE_FACTORS})
                for ceiling in ceilings:
                    count = sum(1 for p in prices if p <= ceiling + 1e-9)
                    choices.append(Choice(Say("≤ {price} CLORE/day ({count})", price=ceiling,
                                              count=count), _next(b, price=ceiling)))
        case "rel":
            for rel in RELIABILITIES:
                label = Say("any reliability") if rel == 0 else Say("≥ {rel}%",
                                                                    rel=f"{rel:g}")
                choices.append(Choice(label, _next(b, rel=rel)))
        case "cc":
            choices.append(Choice(Say("any country"), _next(b, cc="")))
            for cc, count in countries.most_common(3):
                choices.append(Choice(Say("only {cc} ({count})", cc=cc, count=count),
                                      _next(b, cc=f"cc={cc}")))
            if "RU" in countries and len(countries) > 1:
                choices.append(Choice(Say("not RU"), _next(b, cc="cc!=RU")))
    return BuilderView(b.step, text, len(prices), choices)
