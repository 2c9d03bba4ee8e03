"""/start and /help, /link, /unlink, /settings, /pause, /resume, and the answers every
handler may give (busy, failed, private)."""

from __future__ import annotations

from bot.i18n import Translator
from bot.services.results import Profile
from bot.telegram.render.common import clore
from bot.telegram.render.insight import help_text as insight_help
from bot.telegram.render.rules import WATCH_EXAMPLE


def help_text(tr: Translator) -> str:
    return tr.gettext(
        "<b>GigaSPOT Watch</b> watches clore.ai's GigaSPOT market for you.\n"
        "\n"
        "<b>Watch the market</b>\n"
        "/watch &lt;rule&gt; – alert me when machines start matching\n"
        "/market &lt;rule&gt; – cheapest machines matching now (nothing saved)\n"
        "/rules – your rules, with pause and delete buttons\n"
        "/unwatch &lt;id&gt; – delete a rule\n"
        "/pause, /resume – mute or unmute all alerts\n"
        "\n"
        "<b>Your bids</b> (needs your clore API key)\n"
        "/link &lt;API key&gt; – link your account (the message is deleted, the key stored "
        "encrypted)\n"
        "/unlink – forget the key\n"
        "/bids – your bids: leading, tied or outbid, with Raise and Cancel buttons\n"
        "/settings – raise step and price cap\n"
        "/protect &lt;order id&gt; &lt;cap&gt; [raises per hour] – raise the bid automatically "
        "when outbid, never above the cap\n"
        "/unprotect &lt;order id&gt; – stop protecting a bid\n"
        "/budget &lt;amount|off&gt; – most CLORE/day automatic raises may add per 24 h\n"
        "/template – the order template for Bid buttons on match alerts (/template alone "
        "explains it)\n"
        "/history – your last 20 order actions\n"
        "/lang – English or Russian\n"
        "\n"
        "Example: {example}\n"
        "/watch alone explains the rule language.",
        example=WATCH_EXAMPLE,
    ) + "\n\n" + insight_help(tr)


def settings_text(tr: Translator, p: Profile) -> str:
    if p.clore_user_id is None:
        account = tr.gettext("Account: not linked")
    elif p.key_unreadable:
        account = tr.gettext(
            "Account: clore user {clore_user_id}, but your stored API key can no longer be "
            "decrypted: send /link again",
            clore_user_id=p.clore_user_id,
        )
    else:
        account = tr.gettext("Account: clore user {clore_user_id}", clore_user_id=p.clore_user_id)
    if p.price_cap is None:
        cap = tr.gettext(
            "Price cap: none (<code>/settings cap 40</code> or <code>/settings cap off</code>)"
        )
    else:
        cap = tr.gettext(
            "Price cap: {cap} CLORE/day (<code>/settings cap 40</code> or "
            "<code>/settings cap off</code>)",
            cap=clore(p.price_cap),
        )
    return "\n".join(
        [
            tr.gettext("<b>Settings</b>"),
            account,
            tr.gettext(
                "Raise step: {step} CLORE/day (<code>/settings step 0.5</code>)",
                step=clore(p.raise_step),
            ),
            cap,
        ]
    )


def linked(tr: Translator, clore_user_id: int, deleted: bool) -> str:
    text = tr.gettext(
        "✅ Linked to clore user <b>{clore_user_id}</b>. Your key is stored encrypted and your "
        "message with it was deleted. /bids shows your bids.",
        clore_user_id=clore_user_id,
    )
    return text if deleted else text + "\n" + not_deleted(tr)


def not_deleted(tr: Translator) -> str:
    return tr.gettext("I could not delete your message: please delete it yourself.")


def unlinked(tr: Translator, had_key: bool) -> str:
    return tr.gettext("Key forgotten.") if had_key else tr.gettext("No key was linked.")


def paused(tr: Translator) -> str:
    return tr.gettext("🔕 Alerts paused. /resume turns them back on.")


def resumed(tr: Translator) -> str:
    return tr.gettext("🔔 Alerts are on.")


def busy(tr: Translator) -> str:
    return tr.gettext("⏳ The bot is busy right now. Please try again in a moment.")


def failed(tr: Translator) -> str:
    return tr.gettext(
        "Sorry, something went wrong on my side. Please try again; if it keeps happening, "
        "tell the bot's operator."
    )


def private_bot(tr: Translator) -> str:
    return tr.gettext("Sorry, this bot is private.")


def use_private_chat(tr: Translator) -> str:
    return tr.gettext("Please use my buttons in our private chat.")


def not_understood(tr: Translator) -> str:
    return tr.gettext("I did not understand that. /help lists what I can do.")
