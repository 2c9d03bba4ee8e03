"""Async client for clore.ai's GigaSPOT API (see shared/docs/gigaspot-api.md).

- Every keyed request goes through one `KeyPacer` queue per API key (1 request/second).
  Use one client per process, or hand every client the same `pacer`.
- Reads (get_gigaspot, wallets, my_orders, snapshot download) retry transient failures with
  exponential backoff, honouring Retry-After, for at most `read_attempts` attempts.
- Order calls (create, edit, cancel) are sent exactly once. Failures are raised as
  `CloreError`s; when `ambiguous` is set the call may have been applied: reconcile against
  the next snapshot, never resend.
- The key travels only in the `auth` header: never in a URL, a message or a log line.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec

from bot.clore import errors as e
from bot.clore.models import (
    CancelResult,
    CreateResult,
    EditResult,
    GigaspotInfo,
    Id,
    NewOrder,
    OrderEdit,
    Wallet,
    _CancelReply,
    _CreateReply,
    _EditReply,
    _Envelope,
    _GigaspotReply,
    _OrdersReply,
    _WalletsReply,
)
from bot.clore.pacing import KeyPacer, key_fingerprint
from bot.counters import CLORE_CALLS

DEFAULT_BASE_URL = "https://api.clore.ai"
CANCEL_CHUNK = 64

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO; snapshot URLs may be signed, so keep it quiet.
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(max(logging.getLogger(_noisy).level, logging.WARNING))

T = TypeVar("T")

_CODE_ERRORS: dict[int, type[e.CloreError]] = {
    1: e.CloreDatabaseError,
    2: e.CloreInvalidInput,
    3: e.CloreAuthError,
    4: e.CloreInvalidEndpoint,
    5: e.CloreRateLimited,
    6: e.CloreRejected,
}
# An order call answered with these may still have been (partly) applied.
_AMBIGUOUS_CODES = {1}


def safe_url(url: str) -> str:
    """The URL without query or fragment (signed CDN URLs carry tokens there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _ids(values: Sequence[Id], endpoint: str, write: bool) -> list[int]:
    """Clore documents some id lists as strings and the SDK as ints: normalise to int."""
    out: list[int] = []
    for value in values:
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise e.CloreBadReply(
                f"{endpoint}: id {value[:32]!r} is not a number", endpoint=endpoint,
                ambiguous=write,
            )
        out.append(int(value))
    return out


def _check_key(api_key: str) -> None:
    # httpx would echo an invalid header value in its exception message.
    if not api_key or not all(33 <= ord(ch) <= 126 for ch in api_key):
        raise e.CloreAuthError("the API key is empty or has characters a header cannot carry")


class CloreClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        interval: float = 1.0,
        pacer: KeyPacer | None = None,
        timeout: float = 15.0,
        read_attempts: int = 4,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 10.0,
        max_retry_after: float = 60.0,
        max_reply_bytes: int = 16 * 2**20,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.pacer = pacer if pacer is not None else KeyPacer(interval)
        self.timeout = timeout
        self.read_attempts = max(1, read_attempts)
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.max_retry_after = max_retry_after
        self.max_reply_bytes = max_reply_bytes
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport)

    async def __aenter__(self) -> CloreClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- endpoints -------------------------------------------------------------------

    async def get_gigaspot(self, api_key: str) -> GigaspotInfo:
        """Where the current snapshot is, whose key this is, fees and the CLORE price."""
        reply = await self._read("get_gigaspot", api_key, _GigaspotReply)
        if not reply.v1_snapshot_url:
            raise e.CloreBadReply("get_gigaspot: empty v1_snapshot_url", endpoint="get_gigaspot")
        return GigaspotInfo(
            my_user_id=reply.my_user_id,
            snapshot_url=reply.v1_snapshot_url,
            creation_fees=dict(reply.creation_fees),
            clore_price=reply.clore_price,
        )

    async def wallets(self, api_key: str) -> list[Wallet]:
        return (await self._read("wallets", api_key, _WalletsReply)).wallets

    async def my_orders(
        self, api_key: str, *, return_completed: bool = False
    ) -> list[dict[str, Any]]:
        """The account's orders, as clore returns them (their shape is not documented)."""
        params = {"return_completed": "true" if return_completed else "false"}
        return (await self._read("my_orders", api_key, _OrdersReply, params)).orders

    async def create_gigaspot_orders(
        self, api_key: str, orders: Sequence[NewOrder]
    ) -> CreateResult:
        """Sent once. New order ids are not returned: they show up in the next snapshot."""
        if not orders:
            raise ValueError("no orders to create")
        endpoint = "create_gigaspot_orders"
        reply = await self._write(endpoint, api_key, list(orders), _CreateReply)
        return CreateResult(
            failed_to_oc_servers=_ids(reply.failed_to_oc_servers, endpoint, True),
            failed_to_rent_servers=_ids(reply.failed_to_rent_servers, endpoint, True),
            too_low_bids_servers=_ids(reply.too_low_bids_servers, endpoint, True),
        )

    async def edit_gigaspot_orders(
        self, api_key: str, edits: Sequence[OrderEdit]
    ) -> EditResult:
        """Sent once."""
        if not edits:
            raise ValueError("no orders to edit")
        endpoint = "edit_gigaspot_orders"
        reply = await self._write(endpoint, api_key, list(edits), _EditReply)
        return EditResult(
            success_ids=_ids(reply.success_to_update_ids, endpoint, True),
            failed_ids=_ids(reply.failed_to_update_ids, endpoint, True),
            too_low_ids=_ids(reply.too_low_bid_ids, endpoint, True),
        )

    async def cancel_orders(self, api_key: str, order_ids: Iterable[int]) -> CancelResult:
        """Cancels in calls of at most 64 ids, each sent once. On failure the raised error's
        `completed_ids` lists ids that earlier calls cancelled, `unsent_ids` the ids never sent.
        """
        ids = list(dict.fromkeys(int(i) for i in order_ids))
        failed: list[int] = []
        completed: list[int] = []
        for start in range(0, len(ids), CANCEL_CHUNK):
            chunk = ids[start : start + CANCEL_CHUNK]
            try:
                reply = await self._write(
                    "cancel_orders", api_key, {"order_ids": chunk}, _CancelReply
                )
                chunk_failed = _ids(reply.failed_to_cancel, "cancel_orders", True)
            except e.CloreError as exc:
                exc.completed_ids = completed
                exc.unsent_ids = ids[start + CANCEL_CHUNK :]
                raise
            failed += chunk_failed
            completed += [i for i in chunk if i not in set(chunk_failed)]
        return CancelResult(failed_ids=failed)

    async def download(
        self, url: str, *, max_bytes: int, time_limit: float, attempts: int | None = None
    ) -> bytes:
        """A plain GET (no auth header) of a snapshot file, capped in size and total time."""
        attempts = self.read_attempts if attempts is None else max(1, attempts)
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, body = await self._send(
                    "GET", url, endpoint="snapshot", headers={}, max_bytes=max_bytes,
                    total_timeout=time_limit, write=False, follow_redirects=True,
                )
                if status == 429:
                    raise e.CloreRateLimited(
                        "snapshot: HTTP 429", endpoint="snapshot", status=status,
                        retry_after=_retry_after(headers),
                    )
                if status >= 500:
                    raise e.CloreServerError(
                        f"snapshot: HTTP {status}", endpoint="snapshot", status=status
                    )
                if status >= 300:
                    raise e.CloreHttpError(
                        f"snapshot: HTTP {status} for {safe_url(url)}", endpoint="snapshot",
                        status=status,
                    )
                return body
            except e.CloreError as exc:
                wait = self._retry_wait(exc, attempt, attempts)
                if wait is None:
                    raise
                log.warning("snapshot download failed (%s), retry in %.2fs", exc, wait)
                await asyncio.sleep(wait)

    # ---- machinery -------------------------------------------------------------------

    async def _read(
        self, endpoint: str, api_key: str, reply_type: type[T], params: dict[str, str] | None = None
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                content = await self._keyed("GET", endpoint, api_key, params=params, body=None)
                return self._decode(content, reply_type, endpoint, write=False)
            except e.CloreError as exc:
                wait = self._retry_wait(exc, attempt, self.read_attempts)
                if wait is None:
                    raise
                log.warning(
                    "%s for %s failed (%s), retry in %.2fs",
                    endpoint, key_fingerprint(api_key), exc, wait,
                )
                self.pacer.defer(api_key, wait)

    async def _write(self, endpoint: str, api_key: str, body: object, reply_type: type[T]) -> T:
        content = await self._keyed("POST", endpoint, api_key, params=None, body=body)
        return self._decode(content, reply_type, endpoint, write=True)

    def _retry_wait(self, exc: e.CloreError, attempt: int, attempts: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not exc.transient or attempt >= attempts:
            return None
        backoff = min(self.retry_max_delay, self.retry_base_delay * 2 ** (attempt - 1))
        backoff *= random.uniform(0.75, 1.0)  # spread callers that failed together
        retry_after: float | None = getattr(exc, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return float(max(backoff, retry_after))
        return float(backoff)

    async def _keyed(
        self, method: str, endpoint: str, api_key: str, *, params: dict[str, str] | None,
        body: object,
    ) -> bytes:
        """One paced request with the key; returns the body of a code-0 reply."""
        _check_key(api_key)
        write = method != "GET"
        headers = {"auth": api_key, "Content-Type": "application/json"}
        content = msgspec.json.encode(body) if body is not None else None
        async with self.pacer.slot(api_key):
            try:
                status, reply_headers, reply = await self._send(
                    method, f"{self.base_url}/v1/{endpoint}", endpoint=endpoint,
                    headers=headers, params=params, content=content,
                    max_bytes=self.max_reply_bytes, total_timeout=self.timeout, write=write,
                )
                checked = self._check_reply(endpoint, status, reply_headers, reply, write)
            except e.CloreRateLimited as exc:
                CLORE_CALLS.labels(endpoint, type(exc).__name__).inc()
                self.pacer.defer(api_key, exc.retry_after or self.pacer.interval)
                raise
            except Exception as exc:
                CLORE_CALLS.labels(endpoint, type(exc).__name__).inc()
                raise
            CLORE_CALLS.labels(endpoint, "ok").inc()
            return checked

    async def _send(
        self, method: str, url: str, *, endpoint: str, headers: dict[str, str],
        max_bytes: int, total_timeout: float, write: bool,
        params: dict[str, str] | None = None, content: bytes | None = None,
        follow_redirects: bool = False,
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send and read the whole reply under a size cap; transport failures become errors."""
        try:
            async with asyncio.timeout(total_timeout):
                async with self._http.stream(
                    method, url, headers=headers, params=params, content=content,
                    follow_redirects=follow_redirects,
                ) as response:
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise self._too_large(endpoint, max_bytes, write)
                    buffer = bytearray()
                    async for chunk in response.aiter_bytes():
                        buffer += chunk
                        if len(buffer) > max_bytes:
                            raise self._too_large(endpoint, max_bytes, write)
                    return response.status_code, response.headers, bytes(buffer)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise e.CloreTimeout(f"{endpoint}: timed out connecting", endpoint=endpoint) from None
        except (httpx.TimeoutException, TimeoutError):
            raise e.CloreTimeout(
                f"{endpoint}: no reply within {total_timeout:g}s", endpoint=endpoint,
                ambiguous=write,
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise e.CloreBadReply(
                f"{endpoint}: unusable URL {safe_url(url)[:200]!r}", endpoint=endpoint,
                transient=False,
            ) from None
        except httpx.ConnectError as exc:
            raise e.CloreConnectionError(
                f"{endpoint}: cannot connect ({exc})", endpoint=endpoint
            ) from None
        except httpx.TransportError as exc:
            # Read/write errors, a connection closed without a reply: the request was sent.
            raise e.CloreConnectionError(
                f"{endpoint}: connection failed ({type(exc).__name__}: {exc})",
                endpoint=endpoint, ambiguous=write,
            ) from None

    @staticmethod
    def _too_large(endpoint: str, max_bytes: int, write: bool) -> e.CloreBadReply:
        return e.CloreBadReply(
            f"{endpoint}: reply larger than {max_bytes} bytes", endpoint=endpoint,
            ambiguous=write, transient=False,
        )

    def _check_reply(
        self, endpoint: str, status: int, headers: httpx.Headers, body: bytes, write: bool
    ) -> bytes:
        envelope: _Envelope | None
        try:
            envelope = msgspec.json.decode(body, type=_Envelope)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = None
        text = None if envelope is None or envelope.error is None else str(envelope.error)[:300]
        if status == 401:
            raise e.CloreAuthError(
                f"{endpoint}: HTTP 401, invalid API key", endpoint=endpoint, status=status,
                error=text,
            )
        if status == 429:
            raise e.CloreRateLimited(
                f"{endpoint}: HTTP 429, throttled", endpoint=endpoint, status=status,
                error=text, retry_after=_retry_after(headers),
            )
        if status >= 500:
            raise e.CloreServerError(
                f"{endpoint}: HTTP {status}", endpoint=endpoint, status=status, error=text,
                ambiguous=write,
            )
        if envelope is not None and envelope.code != 0:
            raise self._code_error(endpoint, envelope.code, text, status, headers, write)
        if not 200 <= status < 300:
            raise e.CloreHttpError(
                f"{endpoint}: HTTP {status}", endpoint=endpoint, status=status, error=text
            )
        if envelope is None:
            raise e.CloreBadReply(
                f"{endpoint}: reply is not JSON with an integer code", endpoint=endpoint,
                status=status, ambiguous=write,
            )
        return body

    @staticmethod
    def _code_error(
        endpoint: str, code: int, text: str | None, status: int, headers: httpx.Headers,
        write: bool,
    ) -> e.CloreError:
        kind = _CODE_ERRORS.get(code, e.CloreUnknownCode)
        message = f"{endpoint}: clore code {code}" + (f": {text}" if text else "")
        ambiguous = write and (code in _AMBIGUOUS_CODES or kind is e.CloreUnknownCode)
        if kind is e.CloreInvalidEndpoint:
            log.error("clore says %s is not an endpoint: %s", endpoint, text)
        if kind is e.CloreRateLimited:
            return e.CloreRateLimited(
                message, endpoint=endpoint, error=text, status=status,
                retry_after=_retry_after(headers),
            )
        error = kind(message, endpoint=endpoint, error=text, status=status, ambiguous=ambiguous)
        if kind is e.CloreUnknownCode:
            error.code = code
        return error

    @staticmethod
    def _decode(content: bytes, reply_type: type[T], endpoint: str, *, write: bool) -> T:
        try:
            return msgspec.json.decode(content, type=reply_type)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise e.CloreBadReply(
                f"{endpoint}: unexpected reply ({exc})", endpoint=endpoint, ambiguous=write
            ) from None
