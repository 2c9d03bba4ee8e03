"""Process-wide Prometheus counters that code increments as things happen (served by
`bot.metrics`). A module of its own, importing nothing of the bot, so that the clore client
and Telegram delivery can count without import cycles."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)
TELEGRAM_ERRORS = Counter(
    "gigaspot_telegram_errors", "Telegram refusals: 429 flood control, 403 blocked",
    ["code"], registry=REGISTRY,
)  # fmt: skip
CLORE_CALLS = Counter(
    "gigaspot_clore_calls", "clore.ai API calls by endpoint and outcome",
    ["endpoint", "outcome"], registry=REGISTRY,
)  # fmt: skip
