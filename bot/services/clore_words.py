"""clore.ai failures in plain words for the user (never the key, never a traceback).

Returns `Say` notes: the Telegram layer says them in the user's language.
"""

from __future__ import annotations

from bot.clore import errors as e
from bot.i18n import N_, Say

_REASONS = {
    "not_enough_balance": N_("your clore balance is too low"),
    "too_low_price": N_("the price is below what the server accepts"),
    "server-offline": N_("the server is offline"),
}


def plain_error(exc: e.CloreError) -> Say:
    if exc.ambiguous:
        return Say(
            "clore.ai did not confirm the request. It may or may not have gone through; "
            "I will not repeat it. The next market snapshot will show the result."
        )
    if isinstance(exc, e.CloreAuthError):
        return Say("clore.ai rejected your API key. /link a new one.")
    if isinstance(exc, e.CloreRateLimited):
        return Say("clore.ai is rate-limiting your key. Try again in a few seconds.")
    if isinstance(exc, e.CloreRejected):
        reason = exc.error or ""
        if reason in _REASONS:
            return Say("clore.ai refused: {reason}.", reason=Say(_REASONS[reason]))
        if not reason:
            return Say("clore.ai refused: no reason given.")
        return Say("clore.ai refused: {reason}.", reason=reason)
    if isinstance(exc, e.CloreInvalidInput):
        if not exc.error:
            return Say("clore.ai rejected the request as invalid (no detail).")
        return Say("clore.ai rejected the request as invalid ({detail}).", detail=exc.error)
    if exc.transient:
        return Say("clore.ai could not be reached. Nothing was changed; try again shortly.")
    return Say("clore.ai answered with an error. Nothing was changed.")
