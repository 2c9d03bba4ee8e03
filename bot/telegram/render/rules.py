"""Watch rules: /rules pages with their buttons, /watch and /market answers, the rule
language's help."""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import Translator
from bot.services.buttons import ButtonToMake, KeyboardToMake
from bot.services.events import MatchItem
from bot.services.payloads import RuleOnPage, as_dict
from bot.services.results import RuleRow
from bot.telegram.html import MAX_MESSAGE_LENGTH, esc
from bot.telegram.render import Rendered
from bot.telegram.render.common import server_line
from bot.telegram.render.insight import deal_help

RULES_PER_PAGE = 20  # two buttons each: well under Telegram's 100 buttons per message
RULES_PAGE_LENGTH = MAX_MESSAGE_LENGTH - 96  # room for the page header
WATCH_EXAMPLE = '<code>/watch gpu="RTX 4090" gpus&gt;=2 price&lt;30 rel&gt;=97 cc!=RU</code>'


def _rule_line(tr: Translator, rule: RuleRow) -> str:
    rule_id, text, paused = rule
    line = f"{rule_id}. <code>{esc(text)}</code>"
    return line + " " + tr.gettext("⏸ paused") if paused else line


def rules_list(
    tr: Translator, rules: Sequence[RuleRow], *, first: int = 1, total: int | None = None
) -> str:
    """One page of the /rules list: `rules` are numbers `first`.. of `total` rules."""
    total = len(rules) if total is None else total
    if not total:
        return tr.gettext(
            "You have no watch rules yet. Add one with /watch, e.g.\n{example}",
            example=WATCH_EXAMPLE,
        )
    header = tr.gettext("<b>Your watch rules</b>")
    if len(rules) < total:
        header += " " + tr.gettext(
            "({first}–{last} of {total})", first=first, last=first + len(rules) - 1, total=total
        )
    return "\n".join([header, *(_rule_line(tr, rule) for rule in rules)])


def rules_page(tr: Translator, rules: Sequence[RuleRow], start: int = 0) -> list[RuleRow]:
    """The rules one message lists from `rules[start]` on: as many as fit in a message,
    at most RULES_PER_PAGE, at least one."""
    page: list[RuleRow] = []
    length = 0
    for rule in rules[start:]:
        line = len(_rule_line(tr, rule)) + 1
        if page and (len(page) >= RULES_PER_PAGE or length + line > RULES_PAGE_LENGTH):
            break
        page.append(rule)
        length += line
    return page


def rules_view(tr: Translator, rules: Sequence[RuleRow], start: int) -> Rendered:
    """The page of /rules from `rules[start]` on, a pause-or-resume and a delete button per
    rule; the buttons remember the page's first rule, so a tap redraws that page."""
    page = rules_page(tr, rules, start)
    at = page[0][0] if page else 0
    keyboard: KeyboardToMake = []
    for rule_id, _text, paused in page:
        payload = as_dict(RuleOnPage(rule_id, at))
        if paused:
            toggle = ButtonToMake(
                tr.gettext("▶️ Resume {rule_id}", rule_id=rule_id), "rule_resume", payload
            )
        else:
            toggle = ButtonToMake(
                tr.gettext("⏸ Pause {rule_id}", rule_id=rule_id), "rule_pause", payload
            )
        delete = ButtonToMake(
            tr.gettext("🗑 Delete {rule_id}", rule_id=rule_id), "rule_delete", payload
        )
        keyboard.append([toggle, delete])
    return Rendered(rules_list(tr, page, first=start + 1, total=len(rules)), keyboard)


def rules_pages(tr: Translator, rules: Sequence[RuleRow]) -> list[Rendered]:
    """The whole /rules list as messages that fit, each with its rules' buttons."""
    pages: list[Rendered] = []
    start = 0
    while start < len(rules) or not pages:
        pages.append(rules_view(tr, rules, start))
        start += max(1, len(rules_page(tr, rules, start)))
    return pages


def rule_language(tr: Translator) -> str:
    return tr.gettext(
        "<b>Rules</b> are conditions separated by spaces; a machine matches when all hold.\n"
        "{example}\n"
        "\n"
        '<code>gpu="RTX 4090"</code> some GPU\'s model contains the text '
        "(<code>gpu!=1660</code>: none does; lists: <code>gpu=4090,3090</code>)\n"
        "<code>gpus&gt;=2</code> number of (matching) GPUs\n"
        "<code>price&lt;30</code> price to win, CLORE/day for the server; "
        "<code>pergpu&lt;10</code> per GPU\n"
        "<code>rel&gt;=97</code> reliability (97 means 97%)\n"
        "<code>cc=DE,NL</code> / <code>cc!=RU</code> country\n"
        "<code>cuda&gt;=12.4</code> <code>ram&gt;=64</code> <code>cores&gt;=16</code> "
        "<code>threads</code> <code>cpu=EPYC</code>\n"
        "<code>energy&lt;0.1</code> $/kWh · <code>hours&gt;=24</code> longest rental · "
        "<code>host=</code> <code>server=</code>\n"
        "\n"
        "Operators: = != &gt;= &lt;= &gt; &lt;. Machines must be online, working and not rented "
        "unless you say\n"
        "<code>online=any</code>, <code>working=any</code> or <code>rented=any</code>.",
        example=WATCH_EXAMPLE,
    ) + "\n\n" + deal_help(tr)


def matches_preview(
    tr: Translator, canonical: str, items: Sequence[MatchItem], total: int, limit: int
) -> str:
    lines = [f"<code>{esc(canonical)}</code>"]
    if total == 0:
        lines.append(tr.gettext("No machine matches right now."))
    else:
        lines.append(
            tr.ngettext(
                "<b>{n}</b> machine matches now; the cheapest:",
                "<b>{n}</b> machines match now; the cheapest:",
                total,
            )
        )
        lines.extend(
            server_line(tr, i.server_id, i.server, i.price_to_win, i.versus_median)
            for i in items[:limit]
        )
        if total > limit:
            lines.append(tr.gettext("…and {more} more.", more=total - limit))
    return "\n".join(lines)


def market_loading(tr: Translator, canonical: str) -> str:
    return f"<code>{esc(canonical)}</code>\n" + tr.gettext("The market is still loading.")


def rule_saved(tr: Translator, rule_id: int, preview: str) -> str:
    return (
        tr.gettext(
            "✅ Rule {rule_id} saved. I will alert you when machines start matching.",
            rule_id=rule_id,
        )
        + "\n"
        + preview
    )
