"""Numbers, times, servers and `Say` notes, the same way in every message."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from bot.i18n import Say, Translator
from bot.market.snapshot import Server
from bot.telegram.html import esc


def clore(amount: float) -> str:
    """A CLORE amount: two decimals, more (up to clore's 0.0001 step) only when the amount
    is not a whole number of cents, so a price is never rounded for display; thousands
    separated: 12.00, 12.50, 12.4567, 1,250.75."""
    text = f"{amount + 0.0:,.4f}"  # + 0.0: no "-0.0000"
    return text[:-2] + text[-2:].rstrip("0")


def at(moment: datetime) -> str:
    return f"{moment:%H:%M} UTC"


def value(tr: Translator, item: object) -> str:
    """One value of a `Say` as plain text (a nested `Say` is said first)."""
    if isinstance(item, Say):
        return plain(tr, item)
    if isinstance(item, list):
        return "; ".join(value(tr, part) for part in item)
    if isinstance(item, float):
        return clore(item)
    if isinstance(item, datetime):
        return at(item)
    return str(item)


def plain(tr: Translator, note: Say) -> str:
    """A service's note in the user's language, as plain text (notes hold no HTML)."""
    params = {name: value(tr, item) for name, item in note.params.items()}
    if note.plural is not None:
        return tr.ngettext(note.msgid, note.plural, note.n, **params)
    return tr.gettext(note.msgid, **params) if params else tr.gettext(note.msgid)


def say(tr: Translator, note: Say) -> str:
    """A service's note in the user's language, as HTML."""
    return esc(plain(tr, note))


def gpu_summary(tr: Translator, server: Server) -> str:
    if not server.gpus:
        return tr.gettext("no GPU")
    first = server.gpus[0].model
    if all(gpu.model == first for gpu in server.gpus):  # the usual rig; no Counter needed
        return f"{len(server.gpus)}× {' '.join(first.split())}"
    counts = Counter(" ".join(gpu.model.split()) for gpu in server.gpus)
    return " + ".join(f"{n}× {model}" for model, n in counts.most_common())


def rental_length(tr: Translator, seconds: int) -> str:
    hours = seconds / 3600
    if hours >= 48:
        return tr.gettext("{days} days", days=f"{hours / 24:.1f}")
    return tr.gettext("{hours} h", hours=f"{hours:.0f}")


def server_line(
    tr: Translator, server_id: str, server: Server, price_to_win: float,
    versus: float | None = None,
) -> str:  # fmt: skip
    """One machine on one line: server, GPUs, price to win (labelled, and per GPU), country,
    reliability; `versus`: % against the 7-day median per GPU (price context), None: not
    known. Match alerts, digests and previews list machines this way."""
    per_gpu = price_to_win / len(server.gpus) if server.gpus else price_to_win
    return tr.gettext(
        "<b>#{server}</b> {gpus} · to win <b>{price}</b> CLORE/day ({per_gpu}/GPU) · {cc} · "
        "{reliability}%",
        server=esc(server_id),
        gpus=esc(gpu_summary(tr, server)),
        price=clore(price_to_win),
        per_gpu=clore(per_gpu),
        cc=esc(server.cc),
        reliability=f"{server.reliability * 100:.1f}",
    ) + versus_median(tr, versus)


def versus_median(tr: Translator, percent: float | None) -> str:
    """" · -18% vs 7-day median"; empty while the series has less than a day of history."""
    if percent is None or percent != percent:
        return ""
    return " · " + tr.gettext("{percent}% vs 7-day median", percent=f"{percent:+.0f}")


def server_card(
    tr: Translator, server_id: str, server: Server, price_to_win: float,
    versus: float | None = None,
) -> str:  # fmt: skip
    details = tr.gettext(
        "   CUDA {cuda} · RAM {ram} GB · {cpu}",
        cuda=esc(server.cuda),
        ram=f"{server.ram:.0f}",
        cpu=esc(server.cpu),
    )
    energy = tr.gettext(
        "   energy {energy} $/kWh · up to {length}",
        energy=f"{server.energy_price:g}",
        length=rental_length(tr, server.max_rental_length),
    )
    return "\n".join([server_line(tr, server_id, server, price_to_win, versus), details, energy])
