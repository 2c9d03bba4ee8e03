"""Texts and the PNG chart of /chart and /stats, and price context ("-18% vs 7-day median").

Pure: a `Translator` and a typed result in, HTML (every value escaped) or PNG bytes out.
The chart uses matplotlib's object API with the Agg canvas (no pyplot, no display, no global
state), so it can be rendered in a worker thread while the event loop goes on.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np

from bot.db.repositories import price_history as repo
from bot.i18n import N_, Translator
from bot.market.history import SeriesKey
from bot.market.rules import parse_rule, uses_deal
from bot.services import insight
from bot.telegram.html import esc

PERIOD_NAMES = {
    "24h": N_("24 hours"), "7d": N_("7 days"), "30d": N_("30 days"), "180d": N_("180 days"),
}  # fmt: skip
CHART_SIZE = (8.0, 4.8)  # inches; x DPI = 960 x 576 px, sharp on a phone, small to send
CHART_DPI = 120


def when(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def price(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.2f}"  # statistics (medians, percentiles): two decimals, like prices


def series_name(tr: Translator, model: str, count: int | None) -> str:
    if count is None:
        return tr.gettext("{model}, any count", model=model)
    return tr.gettext("{model} ×{count}", model=model, count=count)


def period_name(tr: Translator, period: str) -> str:
    return tr.gettext(PERIOD_NAMES[period])


def help_text(tr: Translator) -> str:
    """The price history commands, for /help."""
    return tr.gettext(
        "<b>Price history</b>\n"
        "/chart &lt;gpu&gt; [count] [24h|7d|30d|180d] – chart of the price to win per GPU\n"
        "/stats &lt;gpu&gt; [count] – the price now, 24 h and 7 days ago\n"
        "<code>deal&gt;=15</code> in a rule: at least 15% below the 7-day median"
    )


def deal_help(tr: Translator) -> str:
    """The `deal` key, for the rule language's help."""
    return tr.gettext(
        "<code>deal&gt;=15</code> price to win per GPU at least 15% below the 7-day median of "
        "its GPU model and count (needs a day of history; /chart and /stats show it)"
    )


def deal_note(tr: Translator, canonical: str, medians: Mapping[SeriesKey, float]) -> str:
    """A line for a rule with `deal` while no series has a day of history: it matches
    nothing yet, and the user should know why."""
    if medians or not uses_deal(parse_rule(canonical)):
        return ""
    return "\n" + tr.gettext(
        "<code>deal</code> needs a day of price history for a GPU model and count; none has "
        "that yet, so it matches nothing for now."
    )


# ------------------------------------------------------------------ problems


def usage(tr: Translator, command: str) -> str:
    if command == "chart":
        return tr.gettext(
            "Send /chart followed by a GPU model, and optionally a GPU count and a period "
            "(24h, 7d, 30d, 180d), e.g. <code>/chart 4090 2 30d</code>."
        )
    return tr.gettext(
        "Send /stats followed by a GPU model and optionally a GPU count, e.g. "
        "<code>/stats 4090 2</code>."
    )


def no_series(tr: Translator, result: insight.NoSeries) -> str:
    wanted = result.gpu if result.count is None else f"{result.gpu} ×{result.count}"
    text = tr.gettext("I have no price history for {gpu} yet.", gpu=esc(wanted))
    if result.known:
        shown = ", ".join(esc(m) for m in result.known[:30])
        text += "\n" + tr.gettext("Models with history: {models}", models=shown)
    return text


def ambiguous(tr: Translator, result: insight.Ambiguous) -> str:
    return tr.gettext(
        "{gpu} fits several models: {models}. Which one?",
        gpu=esc(result.gpu),
        models=", ".join(esc(m) for m in result.models[:20]),
    )


# ------------------------------------------------------------------ /chart


def chart_caption(tr: Translator, chart: insight.Chart) -> str:
    lines = [
        tr.gettext(
            "<b>{series}</b>: price to win per GPU, last {period}",
            series=esc(series_name(tr, chart.model, chart.count)),
            period=esc(period_name(tr, chart.period)),
        )
    ]
    if chart.first_at > chart.now - insight.PERIODS[chart.period]:
        lines.append(tr.gettext("History since {since}.", since=when(chart.first_at)))
    if not chart.points:
        lines.append(tr.gettext("No data in this period yet."))
    return "\n".join(lines)


def chart_png(tr: Translator, chart: insight.Chart) -> bytes:
    """The chart as PNG bytes (CPU-bound: call it in a thread)."""
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    machines = axes.twinx()
    axes.set_zorder(machines.get_zorder() + 1)  # prices drawn over the machine counts
    axes.patch.set_visible(False)
    figure.suptitle(
        f"{series_name(tr, chart.model, chart.count)} · {period_name(tr, chart.period)}",
        fontsize=15, fontweight="bold",
    )  # fmt: skip
    axes.set_ylabel(tr.gettext("CLORE/day per GPU"), fontsize=12)
    machines.set_ylabel(tr.gettext("machines"), fontsize=12, color="#777777")
    for side in (axes, machines):
        side.tick_params(labelsize=11)
    points = chart.points
    # matplotlib's date numbers: days since its default epoch, 1970-01-01 UTC
    times = np.array([p.at for p in points], dtype=np.float64) / 86400
    nan = float("nan")

    def column(name: str) -> list[float]:
        return [nan if (v := getattr(p, name)) is None else v for p in points]

    marker = "o" if len(points) == 1 else None
    if points:
        machines.step(times, [p.rentable for p in points], where="post", color="#bbbbbb",
                      linewidth=1.2, marker=marker, label=tr.gettext("rentable"))  # fmt: skip
        machines.step(times, [p.available for p in points], where="post", color="#888888",
                      linewidth=1.2, linestyle="--", marker=marker,
                      label=tr.gettext("available"))  # fmt: skip
        axes.fill_between(times, column("p25"), column("p90"), color="#1f77b4", alpha=0.2,
                          linewidth=0, label=tr.gettext("25–90%"))  # fmt: skip
        axes.plot(times, column("median"), color="#1f77b4", linewidth=2.2, marker=marker,
                  label=tr.gettext("median"))  # fmt: skip
        axes.plot(times, column("low"), color="#2ca02c", linewidth=1.4, linestyle=":",
                  marker=marker, label=tr.gettext("minimum"))  # fmt: skip
        if chart.median_7d is not None:
            axes.axhline(chart.median_7d, color="#d62728", linewidth=1.2, linestyle="--",
                         label=tr.gettext("7-day median"))  # fmt: skip
        # the whole period asked for, so a short history shows as short
        start = chart.now - insight.PERIODS[chart.period]
        axes.set_xlim(start / 86400, chart.now / 86400)
        locator = dates.AutoDateLocator(maxticks=7)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        formatter = dates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_formatter(formatter)
        axes.set_ylim(bottom=0)
        machines.set_ylim(bottom=0)
        handles, labels = axes.get_legend_handles_labels()
        more, more_labels = machines.get_legend_handles_labels()
        figure.legend(handles + more, labels + more_labels, loc="outside lower center",
                      fontsize=11, ncols=3, frameon=False)  # fmt: skip
    else:
        axes.text(0.5, 0.5, tr.gettext("No data in this period yet."), ha="center",
                  va="center", fontsize=14, transform=axes.transAxes)  # fmt: skip
        axes.set_xticks([])
    axes.set_xlabel("UTC", fontsize=10)
    axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ------------------------------------------------------------------ /stats


def _percent(now: float | None, then: float | None) -> str | None:
    if now is None or then is None or not then:
        return None
    return f"{(now - then) / then * 100:+.1f}%"


def _point_line(tr: Translator, label: str, point: repo.Point) -> str:
    return tr.gettext(
        "{label}: median <b>{median}</b> · min {low} · 25–90% {p25}–{p90} · "
        "{available} of {rentable} machines available",
        label=label, median=price(point.median), low=price(point.low), p25=price(point.p25),
        p90=price(point.p90), available=point.available, rentable=point.rentable,
    )  # fmt: skip


def _median(point: repo.Point | None) -> float | None:
    return point.median if point is not None else None


def stats_text(tr: Translator, stats: insight.Stats) -> str:
    lines = [
        tr.gettext(
            "<b>{series}</b>: price to win per GPU, CLORE/day",
            series=esc(series_name(tr, stats.model, stats.count)),
        )
    ]
    rows = ((tr.gettext("Now"), stats.now_point), (tr.gettext("24 h ago"), stats.day_ago),
            (tr.gettext("7 days ago"), stats.week_ago))  # fmt: skip
    for label, point in rows:
        if point is None:
            lines.append(tr.gettext("{label}: no data", label=label))
        else:
            lines.append(_point_line(tr, label, point))
    current = stats.now_point
    if stats.count is not None and current is not None and current.median is not None:
        per_server = [None if v is None else v * stats.count for v in (current.median,
                      current.low)]  # fmt: skip
        lines.append(tr.ngettext(
            "Now per server ({n} GPU): median {median} · min {low}",
            "Now per server ({n} GPUs): median {median} · min {low}",
            stats.count, median=price(per_server[0]), low=price(per_server[1]),
        ))  # fmt: skip
    now = stats.now_point.median if stats.now_point is not None else None
    if (change := _percent(now, _median(stats.day_ago))) is not None:
        lines.append(tr.gettext("Median now vs 24 h ago: {change}", change=change))
    if (change := _percent(now, _median(stats.week_ago))) is not None:
        lines.append(tr.gettext("Median now vs 7 days ago: {change}", change=change))
    if stats.median_7d is not None:
        lines.append(tr.gettext("7-day median: {median}", median=price(stats.median_7d)))
    if stats.day_ago is None or stats.week_ago is None:
        lines.append(tr.gettext("History since {since}.", since=when(stats.first_at)))
    return "\n".join(lines)
