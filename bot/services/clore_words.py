"""clore.ai failures in plain words for the user (never the key, never a traceback)."""

from __future__ import annotations

from bot.clore import errors as e

_REASONS = {
    "not_enough_balance": "your clore balance is too low",
    "too_low_price": "the price is below what the server accepts",
    "server-offline": "the server is offline",
}


def plain_error(exc: e.CloreError) -> str:
    if exc.ambiguous:
        return (
            "clore.ai did not confirm the request. It may or may not have gone through; "
            "I will not repeat it. The next market snapshot will show the result."
        )
    if isinstance(exc, e.CloreAuthError):
        return "clore.ai rejected your API key. /link a new one."
    if isinstance(exc, e.CloreRateLimited):
        return "clore.ai is rate-limiting your key. Try again in a few seconds."
    if isinstance(exc, e.CloreRejected):
        reason = exc.error or "no reason given"
        return f"clore.ai refused: {_REASONS.get(reason, reason)}."
    if isinstance(exc, e.CloreInvalidInput):
        return f"clore.ai rejected the request as invalid ({exc.error or 'no detail'})."
    if exc.transient:
        return "clore.ai could not be reached. Nothing was changed; try again shortly."
    return "clore.ai answered with an error. Nothing was changed."
