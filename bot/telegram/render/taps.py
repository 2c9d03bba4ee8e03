"""A tapped button's result (`bot.services.results`): the toast, and what the message
gets (text and buttons). How the message is edited is `bot.services.taps.KINDS[...].edit`."""

from __future__ import annotations

from bot.i18n import Translator
from bot.services.buttons import ButtonToMake, KeyboardToMake
from bot.services.results import (
    BidView,
    BuilderView,
    DetailsView,
    GpusView,
    LanguageView,
    MarketView,
    ProtectHint,
    RulesView,
    SettingsView,
    TapButton,
    TapResult,
)
from bot.telegram.render import Rendered, renter
from bot.telegram.render.bids import bid_line
from bot.telegram.render.common import plain, say
from bot.telegram.render.language import picker
from bot.telegram.render.protection import protect_hint
from bot.telegram.render.rules import rules_view


def toast(tr: Translator, result: TapResult) -> str:
    """The answer to the callback query (plain text)."""
    return plain(tr, result.toast)


def buttons(tr: Translator, rows: list[list[TapButton]]) -> KeyboardToMake:
    return [[ButtonToMake(plain(tr, b.label), b.kind, b.payload) for b in row] for row in rows]


def answer(tr: Translator, result: TapResult) -> Rendered | None:
    """The text and buttons a tap's result shows; None: the message stays as it is."""
    parts: list[str] = []
    if result.note is not None:
        parts.append(say(tr, result.note))
    keyboard = buttons(tr, result.buttons) if result.buttons else None
    match result.view:
        case BidView(standing=standing, server=server):
            parts.append(bid_line(tr, standing, server))
        case ProtectHint(order_id=order_id, cap=cap):
            parts.append(protect_hint(tr, order_id, cap))
        case RulesView(rules=rules, start=start):
            page = rules_view(tr, rules, start)
            parts.append(page.text)
            keyboard = page.keyboard
        case LanguageView():
            chooser = picker(tr)
            parts.append(chooser.text)
            keyboard = chooser.keyboard
        case DetailsView(items=items):
            parts.append(renter.details(tr, items))
        case MarketView():
            page = renter.market_page(tr, result.view)
            parts.append(page.text)
            keyboard = page.keyboard
        case GpusView(models=models):
            parts.append(renter.gpus(tr, models))
        case BuilderView():
            page = renter.builder(tr, result.view)
            parts.append(page.text)
            keyboard = page.keyboard
        case SettingsView():
            page = renter.settings(tr, result.view)
            parts.append(page.text)
            keyboard = page.keyboard
    if not parts:
        # Only new buttons (a confirmation, or a bid's buttons back): the text stays.
        return Rendered("", keyboard) if keyboard else None
    return Rendered("\n".join(parts), keyboard)
