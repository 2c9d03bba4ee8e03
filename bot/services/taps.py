"""Inline button taps: claim the action once, for its own user, then dispatch by kind.

A button is used up only by an action taken: a tap that cannot be served yet (the market
is not loaded after a start, Telegram refused the answer to the tap) is `release`d, and
the user is asked to tap again in a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.db.models import User
from bot.db.repositories import actions, users
from bot.services import accounts, alert_control, bids, money, orders, protection, watch
from bot.services.alert_prefs import ALERT_KINDS
from bot.services.bids import TapResult, make_action
from bot.services.buttons import Keyboard
from bot.services.context import ServiceContext, UserError
from bot.telegram.render import renter as render
from bot.telegram.render import translator_for

_REFUSED = {
    "missing": "This button is not valid.",
    "not_owner": "This button is not yours.",
    "used": "This button was already used.",
    "expired": "This button has expired. Ask again with /bids or /rules.",
}
MONEY_KINDS = frozenset({"raise", "confirm_raise", "cancel", "bid", "confirm_bid"})
TRY_AGAIN = "I am still loading the market. Tap the button again in a moment."
ANSWER_FAILED = (
    "⚠️ Telegram did not take my answer to your tap, so I did nothing. "
    "Tap the button again in a moment."
)


@dataclass(frozen=True, slots=True)
class Claimed:
    kind: str
    payload: dict[str, object]
    action_id: str | None = None
    claimed_at: datetime | None = None


async def claim(ctx: ServiceContext, user: User, action_id: str | None) -> Claimed | str:
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
        return Claimed(action.kind, action.payload_data(), action.id, now)


def not_servable_yet(ctx: ServiceContext, user: User, claimed: Claimed) -> str | None:
    """Why this tap cannot be served yet (release it and say so), or None. A user whose
    key cannot be decrypted is told to /link again at once: waiting would not help."""
    if user.api_key_unreadable_at is not None:
        return None
    if claimed.kind in MONEY_KINDS and not ctx.market.ready:
        return TRY_AGAIN
    return None


async def release(ctx: ServiceContext, user: User, claimed: Claimed) -> None:
    """The tap did nothing: its button works again."""
    if claimed.action_id is None or claimed.claimed_at is None:
        return
    async with ctx.sessions() as s, s.begin():
        await actions.release(s, claimed.action_id, user.id, claimed_at=claimed.claimed_at)


async def perform(ctx: ServiceContext, user: User, claimed: Claimed) -> TapResult:
    try:
        match claimed.kind:
            case "raise" | "confirm_raise":
                return await bids.tap_raise(
                    ctx, user, claimed.payload, confirmed=claimed.kind == "confirm_raise"
                )
            case "cancel":
                return await bids.tap_cancel(ctx, user, claimed.payload)
            case "cancel_ask":
                order_id = int(claimed.payload["order_id"])  # type: ignore[arg-type]
                ask = bids.confirm_cancel_buttons(order_id, str(claimed.payload["server_id"]))
                async with ctx.sessions() as s, s.begin():
                    keyboard = await bids.make_keyboard(ctx, s, user.id, ask)
                return TapResult(f"Cancel order {order_id}?", None, keyboard)
            case "keep":
                return await bids.tap_keep(ctx, user, claimed.payload)
            case "dismiss":
                return TapResult("Nothing was sent", "Nothing was sent.")
            case "unprotect":
                order_id = int(claimed.payload["order_id"])  # type: ignore[arg-type]
                return TapResult("Stopped", await protection.disable(ctx, user, str(order_id)))
            case "bid" | "confirm_bid":
                return await orders.tap_bid(
                    ctx,
                    user,
                    claimed.payload,
                    confirmed=claimed.kind == "confirm_bid",
                    action_id=claimed.action_id,
                )
            case "protect":
                order_id = int(claimed.payload["order_id"])  # type: ignore[arg-type]
                cap = float(claimed.payload["cap"])  # type: ignore[arg-type]
                return TapResult("Send the command", messages.protect_hint(order_id, cap))
            case "rule_pause" | "rule_resume" | "rule_delete":
                return await _rule_action(ctx, user, claimed)
            case "alert_mode":
                _prefs, mode = await alert_control.cycle_mode(
                    ctx, user, str(claimed.payload.get("alert"))
                )
                text, keyboard = await settings_view(ctx, user)
                tr = translator_for(user)
                return TapResult(
                    render.mode_toast(tr, str(claimed.payload.get("alert")), mode), text, keyboard
                )
            case "mute_rule":
                number = await alert_control.mute_rule(
                    ctx, user, int(claimed.payload["rule_id"])  # type: ignore[arg-type]
                )
                tr = translator_for(user)
                return TapResult(render.rule_muted(tr, number), render.rule_muted(tr, number))
    except money.NotReady as exc:
        return TapResult("Try again", str(exc), used=False)
    except UserError as exc:
        return TapResult("Not done", str(exc))
    return TapResult("Unknown button", "This button does nothing any more.")


async def _rule_action(ctx: ServiceContext, user: User, claimed: Claimed) -> TapResult:
    rule_id = int(claimed.payload["rule_id"])  # type: ignore[arg-type]
    page_start = int(claimed.payload.get("page", 0))  # type: ignore[call-overload]
    if claimed.kind == "rule_delete":
        await watch.delete(ctx, user, rule_id)
        toast = f"Rule {rule_id} deleted"
    else:
        await watch.set_paused(ctx, user, rule_id, claimed.kind == "rule_pause")
        toast = f"Rule {rule_id} {'paused' if claimed.kind == 'rule_pause' else 'resumed'}"
    text, keyboard = await rules_view(ctx, user, page_start)
    return TapResult(toast, text, keyboard)


async def settings_view(ctx: ServiceContext, user: User) -> tuple[str, Keyboard]:
    """`/settings`: the account and bidding settings, then the alert settings with a button
    per kind of alert (each tap switches it on -> silent -> off)."""
    async with ctx.reads() as s:
        fresh = await users.get(s, user.id)
    user = fresh or user
    p = accounts.profile(ctx, user)
    prefs = users.prefs_of(user)
    tr = translator_for(user)
    text = messages.settings_text(
        p.raise_step, p.price_cap, p.alerts_paused, p.clore_user_id, p.key_unreadable
    ) + "\n\n" + render.alert_settings(tr, prefs, ctx.clock())
    keyboard: Keyboard = []
    async with ctx.sessions() as s, s.begin():
        for kind in ALERT_KINDS:
            label = render.mode_button(tr, kind, prefs.mode(kind))
            keyboard.append([(label, await make_action(ctx, s, user.id, "alert_mode", alert=kind))])
    return text, keyboard


async def rules_pages(ctx: ServiceContext, user: User) -> list[tuple[str, Keyboard]]:
    """The /rules list as messages that fit, each with its rules' buttons."""
    rules = await watch.list_rules(ctx, user)
    pages: list[tuple[str, Keyboard]] = []
    start = 0
    async with ctx.sessions() as s, s.begin():
        while start < len(rules) or not pages:
            page = messages.rules_page(rules, start)
            pages.append(await _page_view(ctx, s, user, rules, start, page))
            start += max(1, len(page))
    return pages


async def rules_view(
    ctx: ServiceContext, user: User, first_rule_id: int = 0
) -> tuple[str, Keyboard]:
    """The page of /rules that starts at rule `first_rule_id` (or the next one left), as
    after a tap on one of its buttons: the page keeps its place when rules go."""
    rules = await watch.list_rules(ctx, user)
    # When none is left from there on, the list starts over.
    start = next((i for i, rule in enumerate(rules) if rule[0] >= first_rule_id), 0)
    page = messages.rules_page(rules, start)
    async with ctx.sessions() as s, s.begin():
        return await _page_view(ctx, s, user, rules, start, page)


async def _page_view(
    ctx: ServiceContext,
    s: AsyncSession,
    user: User,
    rules: list[messages.RuleRow],
    start: int,
    page: list[messages.RuleRow],
) -> tuple[str, Keyboard]:
    """A pause-or-resume and a delete button per rule of the page."""
    keyboard: Keyboard = []
    at = page[0][0] if page else 0
    for rule_id, _text, paused in page:
        toggle = "rule_resume" if paused else "rule_pause"
        label = f"▶️ Resume {rule_id}" if paused else f"⏸ Pause {rule_id}"
        keyboard.append(
            [
                (label, await make_action(ctx, s, user.id, toggle, rule_id=rule_id, page=at)),
                (
                    f"🗑 Delete {rule_id}",
                    await make_action(
                        ctx, s, user.id, "rule_delete", rule_id=rule_id, page=at
                    ),
                ),
            ]
        )
    return messages.rules_list(page, first=start + 1, total=len(rules)), keyboard
