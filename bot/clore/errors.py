"""What can go wrong when talking to clore.ai, as a small typed hierarchy.

Every error answers two questions for its caller:

- `transient`: trying the same request later may succeed (database hiccup, throttling, 5xx,
  timeouts, dropped connections, garbled replies).
- `ambiguous`: the request may have been applied although no clear answer came back. Only
  create/edit/cancel can be ambiguous (a read changes nothing). An ambiguous order call must
  never be retried blindly: reconcile against the next snapshot instead, it is the user's money.

Messages carry clore's own `error` text where there is one and never the API key.
"""

from __future__ import annotations


class CloreError(Exception):
    """Base of every clore.ai failure the client raises."""

    transient: bool = False
    code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        error: str | None = None,
        status: int | None = None,
        ambiguous: bool = False,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient
        self.endpoint = endpoint
        self.error = error  # clore's `error` field, e.g. "not_enough_balance"
        self.status = status  # HTTP status when one was received
        self.ambiguous = ambiguous
        # Set by cancel_orders when the ids span several calls: ids that earlier calls
        # confirmed cancelled, and ids of later calls that were never sent.
        self.completed_ids: list[int] = []
        self.unsent_ids: list[int] = []


class CloreDatabaseError(CloreError):
    """Code 1: database error on clore's side."""

    transient = True
    code = 1


class CloreInvalidInput(CloreError):
    """Code 2: clore rejected the request's content."""

    code = 2


class CloreAuthError(CloreError):
    """Code 3 or HTTP 401: the key is bad or revoked; stop using it."""

    code = 3


class CloreInvalidEndpoint(CloreError):
    """Code 4: clore does not know the endpoint (a bug on our side)."""

    code = 4


class CloreRateLimited(CloreError):
    """Code 5 or HTTP 429: more than one request per second for this key."""

    transient = True
    code = 5

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        endpoint: str = "",
        error: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, error=error, status=status)
        self.retry_after = retry_after  # seconds, from Retry-After when the server sent it


class CloreRejected(CloreError):
    """Code 6: clore refused with a reason in `error` (not_enough_balance, too_low_price...)."""

    code = 6


class CloreUnknownCode(CloreError):
    """A `code` this client does not know."""


class CloreHttpError(CloreError):
    """A non-2xx HTTP status that is neither 401, 429 nor 5xx."""


class CloreServerError(CloreError):
    """HTTP 5xx."""

    transient = True


class CloreTimeout(CloreError):
    """No (complete) reply in time."""

    transient = True


class CloreConnectionError(CloreError):
    """The connection could not be made or was cut."""

    transient = True


class CloreBadReply(CloreError):
    """The reply is not what clore documents: invalid JSON, missing or mistyped fields, or
    larger than the size cap."""

    transient = True
