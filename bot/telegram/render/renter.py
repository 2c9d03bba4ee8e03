"""Texts of alert control: `/settings` alert modes, `/pause`, `/quiet`, `/tz`, digests.

Each function takes a `Translator` and typed values and returns HTML (values escaped).
Russian texts are in `bot/locale/ru/LC_MESSAGES/renter.po`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from bot.i18n import N_, Translator
from bot.market.suggest import GpuModel, Unmatched, condition_text
from bot.services.alert_prefs import ALERT_KINDS, KIND_NAMES, MODE_NAMES, AlertPrefs, clock_text
from bot.services.buttons import ButtonToMake, KeyboardToMake
from bot.services.events import MatchItem
from bot.services.results import BuilderView, MarketView, OwnBid, SettingsView
from bot.telegram.html import esc
from bot.telegram.render import Rendered
from bot.telegram.render.account import settings_text
from bot.telegram.render.bids import bid_buttons, bid_label, bid_line
from bot.telegram.render.common import clore, plain, server_card, server_line
from bot.telegram.render.rules import market_loading, matches_preview

MODE_ICONS = {"on": "🔔", "silent": "🔕", "off": "⛔"}


def kind_name(tr: Translator, kind: str) -> str:
    return tr.gettext(KIND_NAMES[kind])


def mode_button(tr: Translator, kind: str, mode: str) -> str:
    return f"{MODE_ICONS[mode]} {kind_name(tr, kind)}: {tr.gettext(MODE_NAMES[mode])}"


def when_text(tr: Translator, at: datetime, prefs: AlertPrefs) -> str:
    local = at.astimezone(prefs.zone())
    return f"{local:%Y-%m-%d %H:%M} ({zone_label(tr, prefs)})"


def zone_label(tr: Translator, prefs: AlertPrefs) -> str:
    return prefs.time_zone or "UTC"


def settings(tr: Translator, view: SettingsView) -> Rendered:
    """/settings: account and bidding settings, then alerts with a button per kind."""
    text = settings_text(tr, view.profile) + "\n\n" + alert_settings(tr, view.prefs, view.now)
    keyboard = [
        [ButtonToMake(mode_button(tr, kind, view.prefs.mode(kind)), "alert_mode",
                      {"alert": kind})]
        for kind in ALERT_KINDS
    ]  # fmt: skip
    return Rendered(text, keyboard)


def alert_settings(tr: Translator, prefs: AlertPrefs, now: datetime) -> str:
    """The alert part of `/settings`: one line per kind, pause, quiet hours, time zone."""
    lines = [tr.gettext("<b>Alerts</b> (tap a button to switch: on → silent → off)")]
    for kind in ALERT_KINDS:
        lines.append(
            f"{MODE_ICONS[prefs.mode(kind)]} {esc(kind_name(tr, kind))}: "
            f"{esc(tr.gettext(MODE_NAMES[prefs.mode(kind)]))}"
        )
    if prefs.match_paused(now):
        if prefs.paused_until is None:
            lines.append(tr.gettext("⏸ Match alerts paused until /resume."))
        else:
            lines.append(tr.gettext("⏸ Match alerts paused until {when}.",
                                    when=esc(when_text(tr, prefs.paused_until, prefs))))
    lines.append(quiet_line(tr, prefs))
    return "\n".join(lines)


def quiet_line(tr: Translator, prefs: AlertPrefs) -> str:
    zone = esc(zone_label(tr, prefs))
    if prefs.quiet_start is None or prefs.quiet_end is None:
        return tr.gettext("🌙 Quiet hours: none (/quiet 23:00-07:00). Time zone: {zone} (/tz).",
                          zone=zone)
    return tr.gettext(
        "🌙 Quiet hours: {start}–{end}, time zone {zone}.",
        start=clock_text(prefs.quiet_start), end=clock_text(prefs.quiet_end), zone=zone,
    )


def still_coming(tr: Translator, prefs: AlertPrefs) -> str:
    """What a pause lets through: every kind that is not off, except match alerts."""
    kinds = [esc(kind_name(tr, k)).lower() for k in ALERT_KINDS
             if k != "match" and prefs.mode(k) != "off"]
    if not kinds:
        return tr.gettext("Every other kind of alert is off in /settings.")
    return tr.gettext("Still coming through: {kinds}.", kinds=", ".join(kinds))


def paused(tr: Translator, prefs: AlertPrefs, until: datetime | None) -> str:
    if until is None:
        head = tr.gettext("⏸ Match alerts paused until /resume.")
    else:
        head = tr.gettext("⏸ Match alerts paused until {when}.",
                          when=esc(when_text(tr, until, prefs)))
    return f"{head}\n{still_coming(tr, prefs)}"


def resumed(tr: Translator) -> str:
    return tr.gettext("🔔 Match alerts are on again. Machines that started matching during the "
                      "pause are not announced while they go on matching.")


def quiet_set(tr: Translator, prefs: AlertPrefs) -> str:
    return tr.gettext(
        "🌙 Quiet hours {start}–{end} ({zone}). Match alerts that come then arrive as one "
        "digest when they end; other alerts come silently.",
        start=clock_text(prefs.quiet_start or 0), end=clock_text(prefs.quiet_end or 0),
        zone=esc(zone_label(tr, prefs)),
    )


def quiet_off(tr: Translator) -> str:
    return tr.gettext("🌙 Quiet hours are off.")


def quiet_usage(tr: Translator, prefs: AlertPrefs) -> str:
    return tr.gettext(
        "{line}\nSet them with /quiet 23:00-07:00, remove them with /quiet off. Your time zone: "
        "/tz Europe/Berlin or /tz UTC+3.",
        line=quiet_line(tr, prefs),
    )


def zone_set(tr: Translator, zone: str, local_time: str) -> str:
    return tr.gettext("🕒 Time zone {zone}: it is {time} there now.", zone=esc(zone),
                      time=esc(local_time))


def zone_usage(tr: Translator, zone: str | None) -> str:
    return tr.gettext(
        "Your time zone: {zone}. Set it with /tz Europe/Berlin or /tz UTC+3.",
        zone=esc(zone or "UTC"),
    )


def mode_toast(tr: Translator, kind: str, mode: str) -> str:
    return f"{kind_name(tr, kind)}: {tr.gettext(MODE_NAMES[mode])}"


def digest_heading(tr: Translator) -> str:
    return tr.gettext("🌙 <b>While your quiet hours lasted</b> (still matching now):")


def more_button(tr: Translator, number: int | None) -> str:
    """A long match alert's way to the rest (None: the alert lists one rule)."""
    if number is None:
        return tr.gettext("More ▶")
    return tr.gettext("Rule {number}: more ▶", number=number)


def mute_rule_button(tr: Translator, number: int) -> str:
    return tr.gettext("🔕 Mute rule {number}", number=number)


def rule_muted(tr: Translator, number: int) -> str:
    return tr.gettext("🔕 Rule {number} paused: no more alerts from it. /rules resumes it.",
                      number=number)


def unmatched(tr: Translator, items: Sequence[Unmatched]) -> str:
    """Values of a saved rule that no machine in the market has, with what does exist."""
    lines = []
    for item in items:
        typed = f"<code>{esc(condition_text(item.key, item.value))}</code>"
        if item.suggestions:
            options = ", ".join(
                f"<code>{esc(condition_text(item.key, v))}</code>" for v in item.suggestions
            )
            lines.append(tr.gettext(
                "⚠️ No machine in the market has {typed}. Did you mean {options}?",
                typed=typed, options=options,
            ))  # fmt: skip
        else:
            lines.append(tr.gettext("⚠️ No machine in the market has {typed}.", typed=typed))
    return "\n".join(lines)


def edited(tr: Translator, number: int, preview: str) -> str:
    return tr.gettext("✏️ Rule {number} changed.", number=number) + "\n" + preview


STEP_QUESTIONS = {
    "gpu": N_("🧭 <b>Build a rule</b> — step 1 of 5: which GPU? (machines rentable now)"),
    "count": N_("Step 2 of 5: how many GPUs?"),
    "price": N_("Step 3 of 5: the most you want to pay (price to win, whole machine)?"),
    "rel": N_("Step 4 of 5: how reliable?"),
    "cc": N_("Step 5 of 5: which countries?"),
}


def builder(tr: Translator, view: BuilderView) -> Rendered:
    """A step of the /watch builder; the last one shows the rule and a Save button."""
    if not view.ready:
        return Rendered(tr.gettext("The market is still loading. Try /watch again in a minute."))
    lines = []
    if view.step == "done":
        lines.append(tr.gettext("✅ Your rule: <code>{rule}</code>", rule=esc(view.rule)))
        lines.append(tr.ngettext("{n} machine matches now.", "{n} machines match now.",
                                 view.matching))  # fmt: skip
        lines.append(tr.gettext(
            "Save it with the button, or next time send it yourself: "
            "<code>/watch {rule}</code>", rule=esc(view.rule),
        ))  # fmt: skip
        keyboard: KeyboardToMake = [
            [ButtonToMake(tr.gettext("💾 Save this rule"), "builder_save", {"text": view.rule})],
            [ButtonToMake(tr.gettext("↩️ Start over"), "builder", {"step": "gpu"})],
        ]
        return Rendered("\n".join(lines), keyboard)
    lines.append(tr.gettext(STEP_QUESTIONS[view.step]))
    if view.rule:
        lines.append(tr.ngettext(
            "So far: <code>{rule}</code> ({n} machine)",
            "So far: <code>{rule}</code> ({n} machines)",
            view.matching, rule=esc(view.rule),
        ))  # fmt: skip
    if not view.choices:
        lines.append(tr.gettext("No machine is rentable right now."))
    buttons = [
        ButtonToMake(plain(tr, c.label), "builder", msgspec.structs.asdict(c.state))
        for c in view.choices
    ]
    keyboard = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return Rendered("\n".join(lines), keyboard)


def gpus(tr: Translator, models: Sequence[GpuModel] | None, limit: int = 30) -> str:
    """/gpus: models in the market, rentable machines, cheapest price to win."""
    if models is None:
        return tr.gettext("The market is still loading. Try again in a minute.")
    lines = [tr.gettext("<b>GPU models in the market</b> (rentable now · cheapest price to win)")]
    for model in models[:limit]:
        if model.cheapest is None:
            lines.append(tr.gettext("<code>{model}</code> · {count} rentable",
                                    model=esc(model.model), count=model.rentable))
        else:
            lines.append(tr.gettext(
                "<code>{model}</code> · {count} rentable · from {price} CLORE/day",
                model=esc(model.model), count=model.rentable, price=clore(model.cheapest),
            ))  # fmt: skip
    if len(models) > limit:
        lines.append(tr.gettext("…and {more} more models.", more=len(models) - limit))
    lines.append(tr.gettext('Watch one: <code>/watch gpu="RTX 4090" price&lt;30</code>, or '
                            "/watch alone to build a rule with buttons."))  # fmt: skip
    return "\n".join(lines)


def start(tr: Translator) -> Rendered:
    """/start: what the bot does, in three steps with a button each."""
    text = tr.gettext(
        "👋 <b>GigaSPOT Watch</b> watches clore.ai's GigaSPOT market for you: it tells you "
        "when machines you want become rentable, and when one of your bids is outbid.\n"
        "\n"
        "<b>1.</b> Add a rule: which GPUs, how many, up to what price.\n"
        "<b>2.</b> Link your clore.ai API key, to see your bids and bid with one tap.\n"
        "<b>3.</b> See what the market has now.\n"
        "\n"
        "/help lists every command."
    )
    keyboard: KeyboardToMake = [
        [ButtonToMake(tr.gettext("🧭 1. Add a rule"), "builder", {"step": "gpu"})],
        [ButtonToMake(tr.gettext("🔑 2. Link my key"), "link_help", {})],
        [ButtonToMake(tr.gettext("🔎 3. See the market"), "gpus", {})],
    ]
    return Rendered(text, keyboard)


def help_text(tr: Translator) -> str:
    """/help: the commands in groups."""
    return tr.gettext(
        "<b>GigaSPOT Watch</b> — commands\n"
        "\n"
        "<b>Rules</b>\n"
        "/watch &lt;rule&gt; – alert me when machines start matching (/watch alone builds "
        "one with buttons)\n"
        "/market &lt;rule&gt; – cheapest machines matching now, nothing saved\n"
        "/gpus – GPU models in the market, how many, how cheap\n"
        "/rules – your rules; /edit &lt;n&gt; &lt;rule&gt; changes one, /unwatch &lt;n&gt; "
        "deletes one\n"
        "\n"
        "<b>Alerts</b>\n"
        "/settings – each kind of alert on, silent or off; raise step and price cap\n"
        "/pause [2h] – pause match alerts (outbid alerts still come); /resume\n"
        "/quiet 23:00-07:00 – quiet hours, match alerts as one digest after; /tz – your "
        "time zone\n"
        "\n"
        "<b>Bids</b> (needs your clore API key)\n"
        "/link &lt;API key&gt; – link your account; /unlink forgets the key\n"
        "/bids – your bids in one list, with buttons\n"
        "/template – the order template for Bid buttons\n"
        "/protect &lt;order&gt; &lt;cap&gt; – raise automatically when outbid; /unprotect\n"
        "/budget &lt;amount|off&gt; – daily ceiling for automatic raises\n"
        "/history – your last order actions\n"
        "\n"
        "/lang – English or Russian"
    )


def bids_list(tr: Translator, found: Sequence[OwnBid], limit: int = 20) -> Rendered:
    """/bids in one message: a numbered line per bid, a row of buttons per bid (labels
    numbered like the lines when there are several), and what the bids in front cost."""
    shown = list(found)[:limit]
    lines = [tr.ngettext("<b>Your bids</b> ({n})", "<b>Your bids</b> ({n})", len(found))]
    keyboard: KeyboardToMake = []
    for number, bid in enumerate(shown, 1):
        lines.append(f"{number}. {bid_line(tr, bid.standing, bid.server)}")
        for row in bid_buttons(tr, bid.standing, bid.raise_to):
            if len(shown) > 1:
                row = [ButtonToMake(f"{number}: {b.text}", b.kind, b.payload) for b in row]
            keyboard.append(row)
    if len(found) > limit:
        lines.append(tr.gettext("…and {more} more bids.", more=len(found) - limit))
    front = [b for b in found if b.standing.state != "outbid"]
    total = sum(b.standing.price for b in front)
    lines.append("")
    lines.append(tr.ngettext(
        "{n} bid in front costs {total} CLORE/day in all.",
        "{n} bids in front cost {total} CLORE/day in all.",
        len(front), total=clore(total),
    ))  # fmt: skip
    return Rendered("\n".join(lines), keyboard)


def market_page(tr: Translator, view: MarketView) -> Rendered:
    """A page of /market (or of a /watch preview): machines cheapest first, a Bid button per
    machine for users who can bid, Previous / Next when there are more."""
    if not view.ready:
        return Rendered(market_loading(tr, view.canonical))
    if view.start == 0:
        text = matches_preview(tr, view.canonical, view.items, view.total, view.size)
    else:
        end = view.start + len(view.items)
        lines = [f"<code>{esc(view.canonical)}</code>", tr.gettext(
            "Machines {first}–{last} of {total}, cheapest first:",
            first=view.start + 1, last=end, total=view.total,
        )]  # fmt: skip
        lines.extend(
            server_line(tr, i.server_id, i.server, i.price_to_win, i.versus_median)
            for i in view.items
        )
        text = "\n".join(lines)
    keyboard: KeyboardToMake = [
        [ButtonToMake(bid_label(tr, o.server_id, o.price), "bid", {"server_id": o.server_id,
                                                                   "price": o.price})]
        for o in view.offers
    ]  # fmt: skip
    nav = []
    if view.start > 0:
        nav.append(ButtonToMake(tr.gettext("◀ Previous"), "market_page",
                                {"rule": view.canonical,
                                 "start": max(0, view.start - view.size)}))  # fmt: skip
    if view.start + view.size < view.total:
        nav.append(ButtonToMake(tr.gettext("Next ▶"), "market_page",
                                {"rule": view.canonical, "start": view.start + view.size}))
    if nav:
        keyboard.append(nav)
    return Rendered(text, keyboard)


def details_button(tr: Translator) -> str:
    return tr.gettext("ℹ️ Details")


def details(tr: Translator, items: Sequence[MatchItem]) -> str:
    """The machines of an alert in full (price to win as of now)."""
    if not items:
        return tr.gettext("These machines are no longer in the market.")
    return "\n".join(server_card(tr, i.server_id, i.server, i.price_to_win) for i in items)


def stop_protecting_button(tr: Translator) -> str:
    return tr.gettext("🛡 Stop protecting")
