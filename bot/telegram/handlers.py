"""Telegram transport: parse the update, call a service, render the answer. Nothing else.

Every handler runs behind `guarded`: private chats only, the ALLOWED_TELEGRAM_IDS check,
the user row, and an answer to every update: `UserError`s in plain words, a database that
is locked or unavailable as "busy, try again", anything unexpected as an apology (and the
traceback in the log). Answers go through `Delivery`, so replies share the per-chat pacing
and RetryAfter handling of alerts, and are split to fit Telegram's 4096 characters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from telegram import Bot, BotCommand, CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.db.models import User
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, Say, Translator, pick_language, translator
from bot.services import (
    accounts,
    alert_control,
    bids,
    builder,
    protection,
    taps,
    templates,
    wallets,
    watch,
)
from bot.services.buttons import Keyboard, action_id_of, markup_dict
from bot.services.context import ServiceContext, UserError
from bot.services.events import MatchItem
from bot.services.payloads import Builder
from bot.telegram.delivery import Delivery
from bot.telegram.html import MAX_MESSAGE_LENGTH, esc, split_message, truncate_html
from bot.telegram.render import Rendered, translator_for
from bot.telegram.render import account as account_render
from bot.telegram.render import insight as insight_render
from bot.telegram.render import language as language_render
from bot.telegram.render import orderlife as orderlife_render
from bot.telegram.render import orders as orders_render
from bot.telegram.render import protection as protection_render
from bot.telegram.render import renter as render
from bot.telegram.render import rules as rules_render
from bot.telegram.render import taps as taps_render
from bot.telegram.render.common import plain as render_plain
from bot.telegram.render.common import say as render_say

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context, User], Awaitable[None]]

PREVIEW_LIMIT = 5
MAX_BID_MESSAGES = 20
MAX_ID_DIGITS = 18  # rule and order ids fit a signed 64-bit integer
# SQLite locked past its busy timeout, disk full or I/O error; no free pooled connection.
DATABASE_UNAVAILABLE = (OperationalError, PoolTimeout)

# Command names stay English in every language; their descriptions are translated.
COMMANDS = [
    ("start", N_("what this bot does")),
    ("help", N_("commands and examples")),
    ("watch", N_("alert me when machines match a rule")),
    ("market", N_("cheapest machines matching a rule now")),
    ("rules", N_("my watch rules")),
    ("unwatch", N_("delete a rule")),
    ("edit", N_("change a rule: /edit 1 gpu=4090 price<30")),
    ("gpus", N_("GPU models in the market, how many, how cheap")),
    ("bids", N_("my bids: leading or outbid")),
    ("link", N_("link my clore.ai API key")),
    ("unlink", N_("forget my API key")),
    ("settings", N_("raise step and price cap")),
    ("protect", N_("raise a bid automatically when outbid, up to a cap")),
    ("unprotect", N_("stop protecting a bid")),
    ("budget", N_("daily budget for automatic raises")),
    ("template", N_("the order template new bids use")),
    ("history", N_("my last order actions")),
    ("balance", N_("my clore.ai wallets and how long they last")),
    ("pause", N_("pause match alerts: /pause 2h, or until /resume")),
    ("resume", N_("match alerts on again")),
    ("quiet", N_("quiet hours: /quiet 23:00-07:00")),
    ("tz", N_("my time zone for quiet hours")),
    ("lang", N_("language: English or Russian")),
    ("chart", N_("price history chart of a GPU model")),  # bot.telegram.insight_handlers
    ("stats", N_("price of a GPU model now, 24 h and 7 days ago")),
]


def services(context: Context) -> ServiceContext:
    ctx: ServiceContext = context.application.bot_data["services"]
    return ctx


def delivery(context: Context) -> Delivery:
    sender: Delivery = context.application.bot_data["delivery"]
    return sender


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(markup_dict(keyboard), None) if keyboard else None


async def say(context: Context, chat_id: int, text: str, keyboard: Keyboard | None = None) -> None:
    """Send `text`, split into messages of at most 4096 characters; buttons on the last."""
    parts = split_message(text) or [text]
    for number, part in enumerate(parts, 1):
        await delivery(context).send(
            chat_id, part, markup(keyboard) if number == len(parts) else None
        )


async def show(context: Context, user: User, rendered: Rendered) -> None:
    """Send a rendered answer to the user, its buttons made now (one write transaction)."""
    await say(context, user.chat_id, rendered.text, await make_buttons(context, user, rendered))


async def make_buttons(context: Context, user: User, rendered: Rendered) -> Keyboard | None:
    if not rendered.keyboard:
        return None
    ctx = services(context)
    async with ctx.sessions() as s, s.begin():
        return await bids.make_keyboard(ctx, s, user.id, rendered.keyboard)


async def edit(
    context: Context, chat_id: int, message_id: int, text: str, keyboard: Keyboard | None
) -> None:
    """Replace a message's text; an edit cannot be split, so a long text is cut."""
    await delivery(context).edit(chat_id, message_id, truncate_html(text), markup(keyboard))


async def _tell(update: Update, context: Context, chat_id: int, text: str) -> None:
    query = update.callback_query
    if query is None or not await _answer(query, text, show_alert=True):
        await say(context, chat_id, text)


async def warn(context: Context, user: User, note: Say, extra: str = "") -> None:
    """A `UserError`'s note: plain words in the user's language."""
    text = f"⚠️ {render_say(translator_for(user), note)}"
    await say(context, user.chat_id, f"{text}\n{extra}" if extra else text)


def guarded(handler: Handler) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    @wraps(handler)
    async def wrapper(update: Update, context: Context) -> None:
        tg_user, chat, query = update.effective_user, update.effective_chat, update.callback_query
        if tg_user is None:
            return
        tr = translator(pick_language(tg_user.language_code))  # until the user row is read
        if chat is None or chat.type != ChatType.PRIVATE:
            # Answers, alerts and buttons belong in the private chat with the user: acting on
            # a tap in a group would show it there, and the group must never become the
            # chat their alerts go to.
            if query is not None:
                await _answer(query, account_render.use_private_chat(tr), show_alert=True)
            return
        ctx = services(context)
        allowed = ctx.settings.allowed_telegram_ids
        if allowed and tg_user.id not in allowed:
            await _tell(update, context, chat.id, account_render.private_bot(tr))
            return
        try:
            user = await accounts.touch(ctx, tg_user.id, language_code=tg_user.language_code)
            tr = translator_for(user)
            try:
                await handler(update, context, user)
            except accounts.KeyUnreadable as exc:
                await accounts.key_unreadable(ctx, user.id)
                await warn(context, user, exc.say)
            except UserError as exc:
                await warn(context, user, exc.say)
        except DATABASE_UNAVAILABLE as exc:
            # The message only: the statement's parameters may hold user data.
            reason = getattr(exc, "orig", None) or exc
            log.warning("database unavailable for update %s: %s", update.update_id, reason)
            await _tell(update, context, chat.id, account_render.busy(tr))
        except Exception:
            log.exception("error while handling update %s", update.update_id)
            await _tell(update, context, chat.id, account_render.failed(tr))

    return wrapper


def whole_number(word: str) -> int | None:
    """A rule or order id as typed: ASCII digits that fit the database, else None."""
    if word.isascii() and word.isdigit() and len(word) <= MAX_ID_DIGITS:
        return int(word)
    return None


def argument_text(update: Update) -> str:
    """Everything after the command word, spaces and quotes intact."""
    text = update.effective_message.text or "" if update.effective_message else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


@guarded
async def start(update: Update, context: Context, user: User) -> None:
    """A first run that teaches: three steps, each with a button."""
    await show_reading(context, user, render.start(translator_for(user)))


@guarded
async def help_command(update: Update, context: Context, user: User) -> None:
    await say(context, user.chat_id, render.help_text(translator_for(user)))


async def show_reading(context: Context, user: User, page: Rendered) -> None:
    """Send an answer that only reads; while another process holds the database's write
    lock it comes without its buttons (they need action rows) rather than not at all."""
    try:
        keyboard = await make_buttons(context, user, page)
    except DATABASE_UNAVAILABLE:
        keyboard = None
    await say(context, user.chat_id, page.text, keyboard)


@guarded
async def link(update: Update, context: Context, user: User) -> None:
    tr = translator_for(user)
    message = update.effective_message
    key = argument_text(update)
    deleted = False
    if message is not None and key:
        try:
            deleted = await context.bot.delete_message(user.chat_id, message.message_id)
        except TelegramError:
            deleted = False
    if not key:
        raise UserError("Send /link followed by your clore.ai API key.")
    try:
        clore_user_id = await accounts.link(services(context), user, key)
    except UserError as exc:
        await warn(context, user, exc.say, "" if deleted else account_render.not_deleted(tr))
        return
    await say(context, user.chat_id, account_render.linked(tr, clore_user_id, deleted))


@guarded
async def unlink(update: Update, context: Context, user: User) -> None:
    had_key = await accounts.unlink(services(context), user)
    await say(context, user.chat_id, account_render.unlinked(translator_for(user), had_key))


@guarded
async def watch_rule(update: Update, context: Context, user: User) -> None:
    tr = translator_for(user)
    text = argument_text(update)
    ctx = services(context)
    if not text:
        await say(context, user.chat_id, rules_render.rule_language(tr))
        await show(context, user, render.builder(tr, await builder.view(ctx, user, Builder())))
        return
    saved = await watch.save(ctx, user, text)
    # The preview is /market's first page: Bid buttons for users who can bid, and Next.
    page = render.market_page(tr, await watch.market_view(ctx, user, saved.preview.canonical))
    answer = rules_render.rule_saved(tr, saved.rule_id, page.text)
    if saved.unmatched:
        answer += "\n\n" + render.unmatched(tr, saved.unmatched)
    await show(context, user, Rendered(answer, page.keyboard))


@guarded
async def gpus(update: Update, context: Context, user: User) -> None:
    found = await builder.models(services(context), user)
    await say(context, user.chat_id, render.gpus(translator_for(user), found))


@guarded
async def edit_rule(update: Update, context: Context, user: User) -> None:
    tr = translator_for(user)
    words = argument_text(update).split(maxsplit=1)
    number = whole_number(words[0]) if words else None
    if number is None or len(words) < 2:
        raise UserError("Send /edit followed by the rule's number and the new rule, e.g. "
                        "/edit 1 gpu=4090 price<30")  # fmt: skip
    ctx = services(context)
    saved = await watch.edit(ctx, user, number, words[1])
    answer = render.edited(tr, saved.rule_id, _preview_text(ctx, tr, saved.preview))
    if saved.unmatched:
        answer += "\n\n" + render.unmatched(tr, saved.unmatched)
    await say(context, user.chat_id, answer)


@guarded
async def market(update: Update, context: Context, user: User) -> None:
    text = argument_text(update)
    if not text:
        raise UserError("Send /market followed by a rule, e.g. /market gpu=4090 price<30")
    ctx, tr = services(context), translator_for(user)
    view = await watch.market_view(ctx, user, text)
    page = render.market_page(tr, view)
    if view.ready and (note := insight_render.deal_note(tr, view.canonical, ctx.history.medians)):
        page = Rendered(page.text + note, page.keyboard)
    if not view.total and (unmatched := watch.unmatched(ctx, watch.parse(text))):
        page = Rendered(page.text + "\n\n" + render.unmatched(tr, unmatched), page.keyboard)
    await show(context, user, page)


def _preview_text(ctx: ServiceContext, tr: Translator, preview: watch.Preview) -> str:
    if not preview.ready:
        return rules_render.market_loading(tr, preview.canonical)
    items = [
        MatchItem(-1, preview.canonical, m.server_id, server, m.price_to_win,
                  ctx.history.versus_median(server, m.price_to_win))
        for m in preview.matches[:PREVIEW_LIMIT]
        if (server := ctx.market.server(m.server_id)) is not None
    ]
    return rules_render.matches_preview(
        tr, preview.canonical, items, preview.total, PREVIEW_LIMIT
    ) + insight_render.deal_note(tr, preview.canonical, ctx.history.medians)


@guarded
async def rules(update: Update, context: Context, user: User) -> None:
    found = await watch.list_rules(services(context), user)
    for page in rules_render.rules_pages(translator_for(user), found):
        await show(context, user, page)


@guarded
async def unwatch(update: Update, context: Context, user: User) -> None:
    rule_id = whole_number(argument_text(update))
    if rule_id is None:
        raise UserError("Send /unwatch followed by the rule's number (see /rules).")
    await watch.delete(services(context), user, rule_id)
    text = translator_for(user).gettext("Rule {rule_id} deleted.", rule_id=rule_id)
    await say(context, user.chat_id, text)


@guarded
async def list_bids(update: Update, context: Context, user: User) -> None:
    tr = translator_for(user)
    found = bids.list_bids(services(context), user)
    if not found:
        text = tr.gettext("You have no active bids in the current snapshot.")
        await say(context, user.chat_id, text)
        return
    await show(context, user, render.bids_list(tr, found, MAX_BID_MESSAGES))


@guarded
async def pause(update: Update, context: Context, user: User) -> None:
    prefs, until = await alert_control.pause(services(context), user, argument_text(update))
    await say(context, user.chat_id, render.paused(translator_for(user), prefs, until))


@guarded
async def resume(update: Update, context: Context, user: User) -> None:
    await alert_control.resume(services(context), user)
    await say(context, user.chat_id, render.resumed(translator_for(user)))


@guarded
async def quiet(update: Update, context: Context, user: User) -> None:
    ctx, text, tr = services(context), argument_text(update), translator_for(user)
    if not text:
        prefs = await alert_control.current(ctx, user)
        await say(context, user.chat_id, render.quiet_usage(tr, prefs))
        return
    prefs = await alert_control.set_quiet(ctx, user, text)
    answer = render.quiet_set(tr, prefs) if prefs.quiet_start is not None else render.quiet_off(tr)
    await say(context, user.chat_id, answer)


@guarded
async def time_zone(update: Update, context: Context, user: User) -> None:
    ctx, text, tr = services(context), argument_text(update), translator_for(user)
    if not text:
        prefs = await alert_control.current(ctx, user)
        await say(context, user.chat_id, render.zone_usage(tr, prefs.time_zone))
        return
    prefs = await alert_control.set_zone(ctx, user, text)
    await say(context, user.chat_id, render.zone_set(
        tr, prefs.time_zone or "UTC", alert_control.local_time(prefs, ctx.clock())
    ))  # fmt: skip


@guarded
async def settings(update: Update, context: Context, user: User) -> None:
    ctx = services(context)
    words = argument_text(update).lower().split()
    if len(words) == 2 and words[0] in {"lowbalance", "expiry"}:
        if words[0] == "lowbalance":
            await wallets.set_low_balance(ctx, user, words[1])
        else:
            await wallets.set_expiry_warning(ctx, user, words[1])
        words = []
    if words:
        if len(words) != 2 or words[0] not in {"step", "cap"}:
            raise UserError(
                "Use /settings step 0.5, /settings cap 40, /settings cap off, "
                "/settings lowbalance 24h or /settings expiry 12h."
            )
        value = None if words[1] in {"off", "none"} else _number(words[1])
        if words[0] == "step":
            if value is None:
                raise UserError("The raise step cannot be off; give a number like 0.5.")
            await accounts.set_raise_step(ctx, user, value)
        else:
            await accounts.set_price_cap(ctx, user, value)
    view = await taps.settings_view(ctx, user)
    tr = translator_for(user)
    page = render.settings(tr, view)
    extra = orderlife_render.settings_lines(tr, *await wallets.settings_lines(ctx, user))
    await show_reading(context, user, Rendered(page.text + "\n" + extra, page.keyboard))


@guarded
async def balance(update: Update, context: Context, user: User) -> None:
    view = await wallets.balance(services(context), user)
    text = orderlife_render.balance(
        translator_for(user), view.wallets, view.runway, view.read_at, view.error, view.threshold
    )
    await say(context, user.chat_id, text)


@guarded
async def protect(update: Update, context: Context, user: User) -> None:
    text = argument_text(update)
    if text and whole_number(text.split()[0]) is None:
        raise UserError(protection.PROTECT_USAGE)
    result = await protection.enable(services(context), user, text)
    tr = translator_for(user)
    answer = protection_render.protection_on(tr, result)
    if result.settings.use_power:
        answer += "\n" + orderlife_render.protect_power_line(tr)
    await say(context, user.chat_id, answer)


@guarded
async def unprotect(update: Update, context: Context, user: User) -> None:
    text = argument_text(update)
    if whole_number(text) is None:
        raise UserError("Send /unprotect followed by the order id.")
    result = await protection.disable(services(context), user, text)
    await say(context, user.chat_id, protection_render.protection_off(translator_for(user), result))


@guarded
async def budget(update: Update, context: Context, user: User) -> None:
    result = await protection.budget(services(context), user, argument_text(update))
    await say(context, user.chat_id, protection_render.budget(translator_for(user), result))


@guarded
async def template(update: Update, context: Context, user: User) -> None:
    ctx, text, tr = services(context), argument_text(update), translator_for(user)
    note = ""
    if text and templates.sets_environment(text):
        # Environment values may be secrets: like an API key, they leave the chat history.
        note = (
            tr.gettext("Your message was deleted: it carried environment values.")
            if await _delete(context, update)
            else account_render.not_deleted(tr)
        )
    try:
        if text:
            answer = orders_render.template_saved(tr, await templates.save(ctx, user, text))
        else:
            answer = orders_render.template_shown(tr, await templates.show(ctx, user))
    except UserError as exc:
        await warn(context, user, exc.say, esc(note))
        return
    await say(context, user.chat_id, f"{answer}\n{esc(note)}" if note else answer)


async def _delete(context: Context, update: Update) -> bool:
    message = update.effective_message
    if message is None:
        return False
    try:
        return await context.bot.delete_message(message.chat_id, message.message_id)
    except TelegramError:
        return False


@guarded
async def history(update: Update, context: Context, user: User) -> None:
    entries = await templates.history(services(context), user)
    await say(context, user.chat_id, orders_render.history(translator_for(user), entries))


def _number(word: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise UserError("{word} is not a number.", word=repr(word)) from None
    if value != value or value in {float("inf"), float("-inf")}:
        raise UserError("{word} is not a number.", word=repr(word))
    return value


@guarded
async def choose_language(update: Update, context: Context, user: User) -> None:
    await show(context, user, language_render.picker(translator_for(user)))


@guarded
async def tap(update: Update, context: Context, user: User) -> None:
    query = update.callback_query
    if query is None:
        return
    ctx = services(context)
    tr = translator_for(user)
    claimed = await taps.claim(ctx, user, action_id_of(query.data))
    if isinstance(claimed, Say):
        await _answer(query, render_plain(tr, claimed), show_alert=True)
        return
    # A button is used up only by an action taken: what cannot be served now stays usable.
    if (not_yet := taps.not_servable_yet(ctx, user, claimed)) is not None:
        await taps.release(ctx, user, claimed)
        await _answer(query, render_plain(tr, not_yet), show_alert=True)
        return
    if not await _answer(query, tr.gettext("Working on it…")):
        await taps.release(ctx, user, claimed)
        await say(context, user.chat_id, render_say(tr, taps.ANSWER_FAILED))
        return
    result = await taps.perform(ctx, user, claimed)
    tr = translator_for(user)  # a /lang tap changed it
    if not result.used:
        await taps.release(ctx, user, claimed)
        await warn(context, user, result.note or result.toast)
        return
    answer = taps_render.answer(tr, result)
    message = query.message
    if message is None or not hasattr(message, "text_html"):
        await show(context, user, answer or Rendered(render_say(tr, result.toast)))
        return
    kind = taps.KINDS.get(claimed.kind)
    policy = kind.edit if kind is not None else taps.Edit.ADD
    if answer is None or not answer.text:
        text = message.text_html
    elif policy is taps.Edit.REPLACE:
        text = answer.text
    else:
        # The result is kept (up to half a message); the message it is added to gives way.
        addition = truncate_html(answer.text, MAX_MESSAGE_LENGTH // 2)
        room = MAX_MESSAGE_LENGTH - len(addition) - 2
        text = f"{truncate_html(message.text_html, room)}\n\n{addition}"
    keyboard = await make_buttons(context, user, answer) if answer is not None else None
    if policy is not taps.Edit.REPLACE:
        keyboard = _kept_buttons(
            message, query.data, keyboard or [], whole_row=policy is taps.Edit.ADD
        )
    await edit(context, user.chat_id, message.message_id, text, keyboard)


async def _answer(query: CallbackQuery, text: str, *, show_alert: bool = False) -> bool:
    """Answer the tap; False when Telegram refused (400 too old, 429 flood) or was away."""
    try:
        await query.answer(text, show_alert=show_alert)
    except TelegramError as exc:
        log.warning("answerCallbackQuery failed: %s", type(exc).__name__)
        return False
    return True


def _kept_buttons(
    message: object, tapped: str | None, result: Keyboard, *, whole_row: bool
) -> Keyboard:
    """The message's buttons after a tap: the result's buttons take the place of the tapped
    button's row (`whole_row`: a bid's row in /bids, a Yes with its No) or of the tapped
    button alone; every other row stays."""
    reply_markup = getattr(message, "reply_markup", None)
    rows = reply_markup.inline_keyboard if isinstance(reply_markup, InlineKeyboardMarkup) else ()
    kept: Keyboard = []
    placed = False
    for row in rows:
        if any(button.callback_data == tapped for button in row):
            rest = [] if whole_row else [
                (button.text, action)
                for button in row
                if button.callback_data != tapped
                and (action := action_id_of(str(button.callback_data))) is not None
            ]  # fmt: skip
            if rest:
                kept.append(rest)
            kept.extend(result)
            placed = True
            continue
        buttons = [
            (button.text, action)
            for button in row
            if (action := action_id_of(str(button.callback_data))) is not None
        ]
        if buttons:
            kept.append(buttons)
    return kept if placed else result + kept

async def unknown(update: Update, context: Context) -> None:
    chat, tg_user = update.effective_chat, update.effective_user
    if chat is not None and chat.type == "private":
        tr = translator(pick_language(tg_user.language_code if tg_user else None))
        await say(context, chat.id, account_render.not_understood(tr))


async def on_error(update: object, context: Context) -> None:
    # The update is not logged: a /link message carries an API key.
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", update_id, exc_info=context.error)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in {
        "start": start,
        "help": help_command,
        "link": link,
        "unlink": unlink,
        "watch": watch_rule,
        "market": market,
        "rules": rules,
        "unwatch": unwatch,
        "bids": list_bids,
        "pause": pause,
        "resume": resume,
        "settings": settings,
        "edit": edit_rule,
        "gpus": gpus,
        "quiet": quiet,
        "tz": time_zone,
        "protect": protect,
        "unprotect": unprotect,
        "budget": budget,
        "template": template,
        "history": history,
        "balance": balance,
        "lang": choose_language,
    }.items():
        application.add_handler(CommandHandler(name, handler, filters=private))
    application.add_handler(CallbackQueryHandler(tap))
    # Same group, registered last: reached only by what no command above handled.
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, unknown))
    application.add_error_handler(on_error)


def bot_commands(tr: Translator) -> list[BotCommand]:
    return [BotCommand(name, tr.gettext(description)) for name, description in COMMANDS]


async def register_commands(bot: Bot) -> None:
    """The command menu in English (for every language without its own) and in each
    other language the bot speaks."""
    await bot.set_my_commands(bot_commands(translator(DEFAULT_LANGUAGE)))
    for lang in LANGUAGES:
        if lang != DEFAULT_LANGUAGE:
            await bot.set_my_commands(bot_commands(translator(lang)), language_code=lang)
