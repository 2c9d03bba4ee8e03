"""HTML texts the bot sends (alerts, lists, answers). Pure functions: data in, escaped HTML out.

Every dynamic value goes through `esc`; prices are CLORE per day for the whole server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.market.ranking import BidStanding
from bot.market.snapshot import Server
from bot.orders.protection import ProtectionSettings
from bot.telegram.html import MAX_MESSAGE_LENGTH, esc


def clore(amount: float) -> str:
    return f"{amount:,.4f}".rstrip("0").rstrip(".") if amount else "0"


def gpu_summary(server: Server) -> str:
    if not server.gpus:
        return "no GPU"
    first = server.gpus[0].model
    if all(gpu.model == first for gpu in server.gpus):  # the usual rig; no Counter needed
        return f"{len(server.gpus)}× {' '.join(first.split())}"
    counts = Counter(" ".join(gpu.model.split()) for gpu in server.gpus)
    return " + ".join(f"{n}× {model}" for model, n in counts.most_common())


def rental_length(seconds: int) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"


def server_line(server_id: str, server: Server, price_to_win: float) -> str:
    return (
        f"<b>#{esc(server_id)}</b> {esc(gpu_summary(server))} · "
        f"<b>{clore(price_to_win)}</b> CLORE/day · {esc(server.cc)} · "
        f"{server.reliability * 100:.1f}%"
    )


def server_card(server_id: str, server: Server, price_to_win: float) -> str:
    return "\n".join(
        [
            server_line(server_id, server, price_to_win),
            f"   CUDA {esc(server.cuda)} · RAM {server.ram:.0f} GB · {esc(server.cpu)}",
            f"   energy {server.energy_price:g} $/kWh · up to "
            f"{rental_length(server.max_rental_length)}",
        ]
    )


@dataclass(frozen=True, slots=True)
class MatchItem:
    rule_id: int
    rule_text: str
    server_id: str
    server: Server
    price_to_win: float
    number: int = 0  # the rule's number for its user, as shown; 0: show `rule_id`


CardCache = dict[tuple[str, float], str]


def match_alert(
    items: Sequence[MatchItem],
    limit: int,
    total: int | None = None,
    cards: CardCache | None = None,
) -> str:
    """One message for a user's new matches of one cycle, cheapest first.

    A machine that several of the user's rules match is counted and shown once, under the
    lowest-numbered of those rules: `limit` and the counts are about machines, not pairs.
    `total`: how many machines are new in all, when `items` holds only those to list.
    `cards`: server cards already rendered for this snapshot (many users get the same
    cheap machines; one cycle renders each once).
    """
    cards = {} if cards is None else cards
    machines = _machines(items)
    shown = list(machines.values())[:limit]
    count = len(machines) if total is None else total
    noun = "machine matches" if count == 1 else "machines match"
    lines = [f"🔔 <b>{count} new {noun}</b> your rules"]
    by_rule: dict[int, list[MatchItem]] = {}
    for item in shown:
        by_rule.setdefault(item.rule_id, []).append(item)
    for rule_id, group in by_rule.items():
        shown_id = group[0].number or rule_id
        lines.append(f"\nRule {shown_id}: <code>{esc(group[0].rule_text)}</code>")
        for i in group:
            card = cards.get((i.server_id, i.price_to_win))
            if card is None:
                card = cards[(i.server_id, i.price_to_win)] = server_card(
                    i.server_id, i.server, i.price_to_win
                )
            lines.append(card)
    if count > len(shown):
        lines.append(f"\n…and {count - len(shown)} more. /market shows them all.")
    return "\n".join(lines)


def _machines(items: Sequence[MatchItem]) -> dict[str, MatchItem]:
    ordered = sorted(items, key=lambda i: (i.price_to_win, int(i.server_id), i.rule_id))
    machines: dict[str, MatchItem] = {}
    for item in ordered:
        machines.setdefault(item.server_id, item)
    return machines


def listed_machines(items: Sequence[MatchItem], limit: int) -> list[MatchItem]:
    """The machines `match_alert` lists, in its order (for one button per machine)."""
    return list(_machines(items).values())[:limit]


def standing_label(standing: BidStanding) -> str:
    if standing.state == "outbid":
        gap = (standing.top_score or 0.0) - standing.score
        return f"outbid by {clore(gap)}"
    return standing.state


def bid_line(standing: BidStanding, server: Server | None) -> str:
    gpus = esc(gpu_summary(server)) if server is not None else "?"
    return (
        f"<b>#{esc(standing.server_id)}</b> {gpus} · order {standing.order_id} · "
        f"{clore(standing.price)} CLORE/day · <b>{esc(standing_label(standing))}</b>"
    )


def outbid_alert(standing: BidStanding, server: Server | None, raise_to: float) -> str:
    competitor = standing.top_price
    return "\n".join(
        [
            f"⚠️ <b>Outbid</b> on server <b>#{esc(standing.server_id)}</b>"
            + (f" ({esc(gpu_summary(server))})" if server is not None else ""),
            f"Order {standing.order_id}: your bid {clore(standing.price)} CLORE/day",
            f"Top competitor: {clore(competitor) if competitor is not None else '?'} CLORE/day",
            f"To lead again: more than {clore(standing.lead_price)} · Raise sets {clore(raise_to)}",
        ]
    )


def stale_notice(age_seconds: float | None, error: str | None) -> str:
    age = f"{age_seconds / 60:.0f} minutes old" if age_seconds is not None else "not loaded"
    return (
        f"📡 <b>Market data is stale</b>: the latest snapshot is {age}. Alerts pause until "
        "clore.ai publishes a new one; I will tell you when it recovers."
    )


def recovered_notice() -> str:
    return "📡 <b>Market data is fresh again.</b> Alerts are back on."


RuleRow = tuple[int, str, bool]  # rule id, canonical text, paused
RULES_PER_PAGE = 20  # two buttons each: well under Telegram's 100 buttons per message
RULES_PAGE_LENGTH = MAX_MESSAGE_LENGTH - 96  # room for the page header


def _rule_line(rule: RuleRow) -> str:
    rule_id, text, paused = rule
    return f"{rule_id}. <code>{esc(text)}</code>" + (" ⏸ paused" if paused else "")


def rules_list(rules: Sequence[RuleRow], *, first: int = 1, total: int | None = None) -> str:
    """One page of the /rules list: `rules` are numbers `first`.. of `total` rules."""
    total = len(rules) if total is None else total
    if not total:
        return "You have no watch rules yet. Add one with /watch, e.g.\n" + WATCH_EXAMPLE
    header = "<b>Your watch rules</b>"
    if len(rules) < total:
        header += f" ({first}–{first + len(rules) - 1} of {total})"
    return "\n".join([header, *map(_rule_line, rules)])


def rules_page(rules: Sequence[RuleRow], start: int = 0) -> list[RuleRow]:
    """The rules one message lists from `rules[start]` on: as many as fit in a message,
    at most RULES_PER_PAGE, at least one."""
    page: list[RuleRow] = []
    length = 0
    for rule in rules[start:]:
        line = len(_rule_line(rule)) + 1
        if page and (len(page) >= RULES_PER_PAGE or length + line > RULES_PAGE_LENGTH):
            break
        page.append(rule)
        length += line
    return page


WATCH_EXAMPLE = '<code>/watch gpu="RTX 4090" gpus&gt;=2 price&lt;30 rel&gt;=97 cc!=RU</code>'


HELP = f"""<b>GigaSPOT Watch</b> watches clore.ai's GigaSPOT market for you.

<b>Watch the market</b>
/watch &lt;rule&gt; – alert me when machines start matching
/market &lt;rule&gt; – cheapest machines matching now (nothing saved)
/rules – your rules, with pause and delete buttons
/unwatch &lt;id&gt; – delete a rule
/pause, /resume – mute or unmute all alerts

<b>Your bids</b> (needs your clore API key)
/link &lt;API key&gt; – link your account (the message is deleted, the key stored encrypted)
/unlink – forget the key
/bids – your bids: leading, tied or outbid, with Raise and Cancel buttons
/settings – raise step and price cap
/protect &lt;order id&gt; &lt;cap&gt; [raises per hour] – raise the bid automatically when outbid, never above the cap
/unprotect &lt;order id&gt; – stop protecting a bid
/budget &lt;amount|off&gt; – most CLORE/day automatic raises may add per 24 h
/template – the order template for Bid buttons on match alerts (/template alone explains it)
/history – your last 20 order actions

Example: {WATCH_EXAMPLE}
/watch alone explains the rule language."""


RULE_LANGUAGE = f"""<b>Rules</b> are conditions separated by spaces; a machine matches when all hold.
{WATCH_EXAMPLE}

<code>gpu="RTX 4090"</code> some GPU's model contains the text (<code>gpu!=1660</code>: none does; lists: <code>gpu=4090,3090</code>)
<code>gpus&gt;=2</code> number of (matching) GPUs
<code>price&lt;30</code> price to win, CLORE/day for the server; <code>pergpu&lt;10</code> per GPU
<code>rel&gt;=97</code> reliability (97 means 97%)
<code>cc=DE,NL</code> / <code>cc!=RU</code> country
<code>cuda&gt;=12.4</code> <code>ram&gt;=64</code> <code>cores&gt;=16</code> <code>threads</code> <code>cpu=EPYC</code>
<code>energy&lt;0.1</code> $/kWh · <code>hours&gt;=24</code> longest rental · <code>host=</code> <code>server=</code>

Operators: = != &gt;= &lt;= &gt; &lt;. Machines must be online, working and not rented unless you say
<code>online=any</code>, <code>working=any</code> or <code>rented=any</code>."""


def matches_preview(canonical: str, items: Sequence[MatchItem], total: int, limit: int) -> str:
    lines = [f"<code>{esc(canonical)}</code>"]
    if total == 0:
        lines.append("No machine matches right now.")
    else:
        noun = "machine matches" if total == 1 else "machines match"
        lines.append(f"<b>{total}</b> {noun} now; the cheapest:")
        lines.extend(server_line(i.server_id, i.server, i.price_to_win) for i in items[:limit])
        if total > limit:
            lines.append(f"…and {total - limit} more.")
    return "\n".join(lines)


BUSY = "⏳ The bot is busy right now. Please try again in a moment."
FAILED = (
    "Sorry, something went wrong on my side. Please try again; if it keeps happening, tell "
    "the bot's operator."
)

KEY_UNREADABLE = (
    "I can no longer decrypt your stored clore.ai API key (the bot's secret key was changed "
    "or lost). Nothing was done. Send /link followed by your API key again."
)


def key_unreadable_notice() -> str:
    return (
        "🔑 <b>Your clore.ai API key needs linking again.</b> I can no longer decrypt the key "
        "you stored (the bot's secret key was changed or lost), so I cannot show, raise, "
        "cancel or protect your bids. Send /link followed by your API key; your rules and "
        "settings are kept."
    )


def settings_text(
    step: float,
    cap: float | None,
    paused: bool,
    clore_user_id: int | None,
    key_unreadable: bool = False,
) -> str:
    account = f"clore user {clore_user_id}" if clore_user_id is not None else "not linked"
    if clore_user_id is not None and key_unreadable:
        account += ", but your stored API key can no longer be decrypted: send /link again"
    return "\n".join(
        [
            "<b>Settings</b>",
            f"Account: {account}",
            f"Raise step: {clore(step)} CLORE/day (<code>/settings step 0.5</code>)",
            "Price cap: "
            + (f"{clore(cap)} CLORE/day" if cap is not None else "none")
            + " (<code>/settings cap 40</code> or <code>/settings cap off</code>)",
        ]
    )


def protection_enabled(order_id: int, server_id: str, settings: ProtectionSettings) -> str:
    return (
        f"🛡 Order {order_id} on #{esc(server_id)} is protected: when outbid I raise it, "
        f"never above {clore(settings.cap)} CLORE/day and at most "
        f"{settings.max_raises_per_hour} times per hour. /unprotect {order_id} stops it."
    )


def protect_hint(order_id: int, cap: float) -> str:
    return (
        f"To protect order {order_id}, send\n<code>/protect {order_id} {clore(cap)}</code>\n"
        "with the highest price (CLORE/day) I may raise it to; add a number for raises per hour."
    )


def budget_text(budget: float | None, spent: float) -> str:
    limit = f"{clore(budget)} CLORE/day per 24 h" if budget is not None else "none"
    return (
        f"Daily budget for automatic raises: {limit}. Used in the last 24 h: {clore(spent)}."
        "\n(<code>/budget 20</code> or <code>/budget off</code>)"
    )


def auto_raised(order_id: int, server_id: str, price: float, rival: float | None) -> str:
    rival_text = clore(rival) if rival is not None else "?"
    return (
        f"🛡 Raised order {order_id} on #{esc(server_id)} to {clore(price)} (rival at {rival_text})"
    )


def protection_at_cap(needed: float, cap: float) -> str:
    return f"🛡 Not raised: leading needs {clore(needed)}, above your cap of {clore(cap)}."


def protection_over_budget(needed: float, remaining: float) -> str:
    return (
        f"🛡 Not raised to {clore(needed)}: your daily budget has {clore(remaining)} left (/budget)."
    )


def protection_rate_limited(needed: float, next_allowed_at: datetime) -> str:
    return (
        f"🛡 Not raised to {clore(needed)}: the hourly raise limit is reached until "
        f"{next_allowed_at:%H:%M} UTC."
    )


def protection_failed(price: float, outcome: str, error: str) -> str:
    head = "was not confirmed" if outcome == "ambiguous" else "failed"
    return f"🛡 The automatic raise to {clore(price)} {head}: {esc(error)} I will not retry it."
