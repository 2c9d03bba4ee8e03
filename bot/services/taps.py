"""Inline button taps: claim the action once, for its own user, then act by its kind.

`KINDS` is the one table of button kinds: for each, the payload it carries (a msgspec
type from `bot.services.payloads`), the service it calls, whether it spends money (then it
is not served before the market is loaded) and how the tapped message is edited (the
Telegram layer, `bot.telegram.handlers.tap`, carries the policy out).

A button is used up only by an action taken: a tap that cannot be served yet (the market
is not loaded after a start, Telegram refused the answer to the tap) is `release`d, and
the user is asked to tap again in a moment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

import msgspec

from bot.db.models import User
from bot.db.repositories import actions, users
from bot.i18n import Say
from bot.services import (
    accounts,
    alert_control,
    bids,
    builder,
    money,
    order_taps,
    orders,
    protection,
    watch,
)
from bot.services.alert_prefs import KIND_NAMES, MODE_NAMES
from bot.services.context import ServiceContext, UserError
from bot.services.payloads import (
    AlertMode,
    Builder,
    Language,
    MarketPage,
    Nothing,
    Order,
    OrderCap,
    OrderOnly,
    OrderPrice,
    RuleMute,
    RuleOnPage,
    RuleText,
    ServerPrice,
    Servers,
)
from bot.services.results import (
    DetailsView,
    GpusView,
    LanguageView,
    ProtectHint,
    RulesView,
    SettingsView,
    TapResult,
)

_REFUSED = {
    "missing": Say("This button is not valid."),
    "not_owner": Say("This button is not yours."),
    "used": Say("This button was already used."),
    "expired": Say("This button has expired. Ask again with /bids or /rules."),
}
TRY_AGAIN = Say("I am still loading the market. Tap the button again in a moment.")
ANSWER_FAILED = Say(
    "⚠️ Telegram did not take my answer to your tap, so I did nothing. "
    "Tap the button again in a moment."
)


class Edit(Enum):
    """What a tap does to the message its button is on."""

    # The result is added under the message; its buttons take the place of the tapped
    # button's row (one bid's buttons, a Yes with its No), other rows stay.
    ADD = "add"
    ADD_KEEP_OTHERS = "add_keep_others"  # ... of the tapped button alone
    REPLACE = "replace"  # the result replaces the message (a /rules page, the /lang picker)


P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Claimed(Generic[P]):
    kind: str
    payload: P
    action_id: str | None = None
    claimed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TapKind(Generic[P]):
    payload: type[P]
    act: Callable[[ServiceContext, User, Claimed[P]], Awaitable[TapResult]]
    spends_money: bool
    edit: Edit


async def _raise(ctx: ServiceContext, user: User, c: Claimed[OrderPrice]) -> TapResult:
    return await bids.tap_raise(ctx, user, c.payload, confirmed=c.kind == "confirm_raise")


async def _cancel(ctx: ServiceContext, user: User, c: Claimed[Order]) -> TapResult:
    return await bids.tap_cancel(ctx, user, c.payload)


async def _bid(ctx: ServiceContext, user: User, c: Claimed[ServerPrice]) -> TapResult:
    return await orders.tap_bid(
        ctx, user, c.payload, confirmed=c.kind == "confirm_bid", action_id=c.action_id
    )


async def _protect(ctx: ServiceContext, user: User, c: Claimed[OrderCap]) -> TapResult:
    return TapResult(Say("Send the command"), view=ProtectHint(c.payload.order_id, c.payload.cap))


async def _new_bid(ctx: ServiceContext, user: User, c: Claimed[order_taps.NewBid]) -> TapResult:
    return await order_taps.tap_create(
        ctx,
        user,
        c.payload,
        kind=c.kind.removeprefix("confirm_"),
        confirmed=c.kind.startswith("confirm_"),
        action_id=c.action_id,
    )


async def _watch_server(
    ctx: ServiceContext, user: User, c: Claimed[order_taps.ServerOnly]
) -> TapResult:
    return await order_taps.tap_watch(ctx, user, c.payload)


async def _fix_raise(
    ctx: ServiceContext, user: User, c: Claimed[order_taps.RaiseAbove]
) -> TapResult:
    p = c.payload
    return await bids.tap_raise(
        ctx, user, OrderPrice(p.order_id, p.server_id, p.price), confirmed=False,
        refused=p.refused,
    )  # fmt: skip


async def _power(ctx: ServiceContext, user: User, c: Claimed[order_taps.PowerLimit]) -> TapResult:
    return await order_taps.tap_power(ctx, user, c.payload)


async def _rule(ctx: ServiceContext, user: User, c: Claimed[RuleOnPage]) -> TapResult:
    rule_id = c.payload.rule_id
    if c.kind == "rule_delete":
        await watch.delete(ctx, user, rule_id)
        toast = Say("Rule {rule_id} deleted", rule_id=rule_id)
    elif c.kind == "rule_pause":
        await watch.set_paused(ctx, user, rule_id, True)
        toast = Say("Rule {rule_id} paused", rule_id=rule_id)
    else:
        await watch.set_paused(ctx, user, rule_id, False)
        toast = Say("Rule {rule_id} resumed", rule_id=rule_id)
    return TapResult(toast, view=await rules_view(ctx, user, c.payload.page))


async def _cancel_ask(ctx: ServiceContext, user: User, c: Claimed[Order]) -> TapResult:
    return bids.ask_cancel(c.payload)


async def _keep(ctx: ServiceContext, user: User, c: Claimed[Order]) -> TapResult:
    return bids.tap_keep(ctx, user, c.payload)


async def _dismiss(ctx: ServiceContext, user: User, c: Claimed[Nothing]) -> TapResult:
    return TapResult(Say("Nothing was sent"), Say("Nothing was sent."))


async def _unprotect(ctx: ServiceContext, user: User, c: Claimed[OrderOnly]) -> TapResult:
    off = await protection.disable(ctx, user, str(c.payload.order_id))
    return TapResult(Say("Stopped"), Say("Protection of order {order_id} is off.",
                                         order_id=off.order_id))  # fmt: skip


async def _alert_mode(ctx: ServiceContext, user: User, c: Claimed[AlertMode]) -> TapResult:
    _prefs, mode = await alert_control.cycle_mode(ctx, user, c.payload.alert)
    return TapResult(Say("{kind}: {mode}", kind=Say(KIND_NAMES[c.payload.alert]),
                         mode=Say(MODE_NAMES[mode])),
                     view=await settings_view(ctx, user))  # fmt: skip


async def _mute_rule(ctx: ServiceContext, user: User, c: Claimed[RuleMute]) -> TapResult:
    number = await alert_control.mute_rule(ctx, user, c.payload.rule_id)
    note = Say("🔕 Rule {number} paused: no more alerts from it. /rules resumes it.",
               number=number)
    return TapResult(Say("Rule {number} paused", number=number), note)


async def _builder(ctx: ServiceContext, user: User, c: Claimed[Builder]) -> TapResult:
    return TapResult(Say("Working on it…"), view=await builder.view(ctx, user, c.payload))


async def _builder_save(ctx: ServiceContext, user: User, c: Claimed[RuleText]) -> TapResult:
    saved = await watch.save(ctx, user, c.payload.text)
    note = Say("✅ Rule {number} saved: {rule}\nI will alert you when machines start matching. "
               "Next time you can send it yourself: /watch {rule}",
               number=saved.rule_id, rule=saved.preview.canonical)  # fmt: skip
    return TapResult(Say("Rule {number} saved", number=saved.rule_id), note)


async def _link_help(ctx: ServiceContext, user: User, c: Claimed[Nothing]) -> TapResult:
    return TapResult(Say("Link your key"), Say(
        "🔑 Send /link followed by your clore.ai API key (clore.ai → Account → API). I delete "
        "the message, keep the key encrypted, and from then on I know your bids: /bids."
    ))  # fmt: skip


async def _gpus(ctx: ServiceContext, user: User, c: Claimed[Nothing]) -> TapResult:
    return TapResult(Say("The market"), view=GpusView(await builder.models(ctx, user)))


async def _market_page(ctx: ServiceContext, user: User, c: Claimed[MarketPage]) -> TapResult:
    view = await watch.market_view(ctx, user, c.payload.rule, c.payload.start)
    return TapResult(Say("Working on it…"), view=view)


async def _details(ctx: ServiceContext, user: User, c: Claimed[Servers]) -> TapResult:
    items = alert_control.details(ctx, user, c.payload.servers)
    return TapResult(Say("Details"), view=DetailsView(items))


async def settings_view(ctx: ServiceContext, user: User) -> SettingsView:
    fresh = await alert_control.fresh_user(ctx, user)
    return SettingsView(accounts.profile(ctx, fresh), users.prefs_of(fresh), ctx.clock())


async def _language(ctx: ServiceContext, user: User, c: Claimed[Language]) -> TapResult:
    await accounts.set_language(ctx, user, c.payload.lang)
    return TapResult(Say("From now on I speak English with you."), view=LanguageView())


KINDS: dict[str, TapKind[Any]] = {
    "raise": TapKind(OrderPrice, _raise, spends_money=True, edit=Edit.ADD),
    "confirm_raise": TapKind(OrderPrice, _raise, spends_money=True, edit=Edit.ADD),
    "cancel": TapKind(Order, _cancel, spends_money=True, edit=Edit.ADD),
    # A match alert has a Bid button per machine (a row each): bidding on one keeps the
    # others; a confirmation's Yes takes its No with it.
    "bid": TapKind(ServerPrice, _bid, spends_money=True, edit=Edit.ADD),
    "confirm_bid": TapKind(ServerPrice, _bid, spends_money=True, edit=Edit.ADD),
    # The Protect hint keeps Raise and Cancel (the rest of its row).
    "protect": TapKind(OrderCap, _protect, spends_money=False, edit=Edit.ADD_KEEP_OTHERS),
    "rule_pause": TapKind(RuleOnPage, _rule, spends_money=False, edit=Edit.REPLACE),
    "rule_resume": TapKind(RuleOnPage, _rule, spends_money=False, edit=Edit.REPLACE),
    "rule_delete": TapKind(RuleOnPage, _rule, spends_money=False, edit=Edit.REPLACE),
    "language": TapKind(Language, _language, spends_money=False, edit=Edit.REPLACE),
    # The life of an order (bot.services.order_taps): Bid again from an expiry warning,
    # the fixes a refusal offers, lead by lowering the power limit.
    "bid_again": TapKind(order_taps.NewBid, _new_bid, spends_money=True, edit=Edit.ADD),
    "confirm_bid_again": TapKind(order_taps.NewBid, _new_bid, spends_money=True, edit=Edit.ADD),
    "fix_bid": TapKind(order_taps.NewBid, _new_bid, spends_money=True, edit=Edit.ADD),
    "confirm_fix_bid": TapKind(order_taps.NewBid, _new_bid, spends_money=True, edit=Edit.ADD),
    "watch_server": TapKind(
        order_taps.ServerOnly, _watch_server, spends_money=False, edit=Edit.ADD
    ),
    "power_lead": TapKind(order_taps.PowerLimit, _power, spends_money=True, edit=Edit.ADD),
    "fix_raise": TapKind(order_taps.RaiseAbove, _fix_raise, spends_money=True, edit=Edit.ADD),
    # Cancel asks first; every confirmation has a No.
    "cancel_ask": TapKind(Order, _cancel_ask, spends_money=False, edit=Edit.ADD),
    "keep": TapKind(Order, _keep, spends_money=False, edit=Edit.ADD),
    "dismiss": TapKind(Nothing, _dismiss, spends_money=False, edit=Edit.ADD),
    "unprotect": TapKind(OrderOnly, _unprotect, spends_money=False, edit=Edit.ADD),
    "alert_mode": TapKind(AlertMode, _alert_mode, spends_money=False, edit=Edit.REPLACE),
    # Muting one rule keeps the alert's Bid buttons and the other rules' mute buttons.
    "mute_rule": TapKind(RuleMute, _mute_rule, spends_money=False, edit=Edit.ADD_KEEP_OTHERS),
    "builder": TapKind(Builder, _builder, spends_money=False, edit=Edit.REPLACE),
    # /start's steps: the answer comes under the welcome, whose other buttons stay.
    "link_help": TapKind(Nothing, _link_help, spends_money=False, edit=Edit.ADD_KEEP_OTHERS),
    "gpus": TapKind(Nothing, _gpus, spends_money=False, edit=Edit.ADD_KEEP_OTHERS),
    # /market's Next / Previous redraw the page from the market as it is now.
    "market_page": TapKind(MarketPage, _market_page, spends_money=False, edit=Edit.REPLACE),
    "details": TapKind(Servers, _details, spends_money=False, edit=Edit.ADD_KEEP_OTHERS),
    "builder_save": TapKind(RuleText, _builder_save, spends_money=False, edit=Edit.REPLACE),
}
Kind = Literal[
    "raise", "confirm_raise", "cancel", "bid", "confirm_bid", "protect",
    "rule_pause", "rule_resume", "rule_delete", "language", "bid_again", "confirm_bid_again",
    "fix_bid", "confirm_fix_bid", "watch_server", "power_lead", "fix_raise",
    "cancel_ask", "keep", "dismiss", "unprotect", "alert_mode", "mute_rule", "builder",
    "builder_save", "link_help", "gpus", "market_page", "details",
]  # fmt: skip


async def claim(ctx: ServiceContext, user: User, action_id: str | None) -> Claimed[Any] | Say:
    """The claimed action, or why the tap must do nothing. Committed before any spending."""
    if action_id is None:
        return _REFUSED["missing"]
    now = ctx.clock()
    async with ctx.sessions() as s, s.begin():
        action = await actions.claim(s, action_id, user.id, now=now)
        if action is None:
            return _REFUSED[
                actions.why_unclaimable(await actions.get(s, action_id), user.id, now=now)
            ]
        kind = KINDS.get(action.kind)
        payload: object = None
        if kind is not None:
            try:
                payload = msgspec.convert(action.payload_data(), kind.payload)
            except msgspec.ValidationError:
                payload = None
        return Claimed(action.kind, payload, action.id, now)


def not_servable_yet(ctx: ServiceContext, user: User, claimed: Claimed[Any]) -> Say | None:
    """Why this tap cannot be served yet (release it and say so), or None. A user whose
    key cannot be decrypted is told to /link again at once: waiting would not help."""
    if user.api_key_unreadable_at is not None:
        return None
    kind = KINDS.get(claimed.kind)
    if kind is not None and kind.spends_money and not ctx.market.ready:
        return TRY_AGAIN
    return None


async def release(ctx: ServiceContext, user: User, claimed: Claimed[Any]) -> None:
    """The tap did nothing: its button works again."""
    if claimed.action_id is None or claimed.claimed_at is None:
        return
    async with ctx.sessions() as s, s.begin():
        await actions.release(s, claimed.action_id, user.id, claimed_at=claimed.claimed_at)


async def perform(ctx: ServiceContext, user: User, claimed: Claimed[Any]) -> TapResult:
    kind = KINDS.get(claimed.kind)
    if kind is None or claimed.payload is None:
        return TapResult(Say("Unknown button"), Say("This button does nothing any more."))
    try:
        return await kind.act(ctx, user, claimed)
    except money.NotReady:
        return TapResult(
            Say("Try again"),
            Say("I am still loading the market. Try again in a moment."),
            used=False,
        )
    except accounts.KeyUnreadable as exc:
        await accounts.key_unreadable(ctx, user.id)  # flagged (and told) once, like a command
        return TapResult(Say("Not done"), exc.say)
    except UserError as exc:
        return TapResult(Say("Not done"), exc.say)


async def rules_view(ctx: ServiceContext, user: User, first_rule_id: int = 0) -> RulesView:
    """The page of /rules that starts at rule `first_rule_id` (or the next one left), as
    after a tap on one of its buttons: the page keeps its place when rules go."""
    rules = await watch.list_rules(ctx, user)
    # When none is left from there on, the list starts over.
    start = next((i for i, rule in enumerate(rules) if rule[0] >= first_rule_id), 0)
    return RulesView(rules, start)
