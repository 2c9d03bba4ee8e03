"""Keeps the current GigaSPOT snapshot: asks get_gigaspot where it is, downloads on change.

One `poll()` = one get_gigaspot call with the operator key, plus a download only when
`v1_snapshot_url` differs from the URL of the snapshot in force. Whatever fails (the call,
the download, the size cap, the time limit, the decoding however it fails, an empty `{}`
replacing a market that had servers), the previous snapshot stays in force, `is_new` is False
and `error` says why; the failed URL is not remembered, so the next poll tries it again. A
snapshot the cycle then fails to apply is handed back with `reject()`, which puts the
previous one back in force. So a failing snapshot is no new data: the age, and with it
`stale`, keeps counting from the snapshot last applied. Failures are logged by the poller,
once per distinct failure.

The CLORE price used with a snapshot is the one from the get_gigaspot reply that announced
it (energy costs and bids are then judged at one moment); when that reply had none, the last
price any reply carried is used.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.clore.client import CloreClient, safe_url
from bot.clore.errors import CloreError
from bot.clore.models import GigaspotInfo
from bot.market.snapshot import Snapshot, SnapshotError, decode_snapshot

log = logging.getLogger(__name__)

_URL_TIMESTAMP = re.compile(r"_(\d{9,12})\.json$")

Decoder = Callable[[bytes, Snapshot | None], Snapshot]


@dataclass(frozen=True, slots=True)
class PollResult:
    snapshot: Snapshot | None  # the one in force (None until a first download succeeds)
    is_new: bool  # `snapshot` was downloaded by this poll
    info: GigaspotInfo | None  # this poll's get_gigaspot reply; None when the call failed
    age_seconds: float | None  # of the snapshot in force
    stale: bool  # no snapshot, or older than stale_after
    error: str | None  # why this poll could not refresh the snapshot
    failure: Exception | None = None  # the same, as the exception (e.g. CloreAuthError)
    snapshot_url: str | None = None  # URL of the snapshot in force
    clore_price: float | None = None  # USD per CLORE to judge `snapshot` with


def _snapshot_failure(exc: Exception) -> Exception:
    if isinstance(exc, CloreError | SnapshotError):
        return exc
    # The message alone ("maximum recursion depth exceeded ...") would not say what failed.
    return SnapshotError(f"snapshot cannot be decoded: {type(exc).__name__}: {exc}")


def snapshot_timestamp(url: str) -> float | None:
    """The unix time in a snapshot URL's `_<timestamp>.json` ending, if there is one."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    match = _URL_TIMESTAMP.search(path)
    return float(match.group(1)) if match else None


class SnapshotFetcher:
    def __init__(
        self,
        client: CloreClient,
        operator_key: str,
        *,
        max_bytes: int = 256 * 2**20,
        download_timeout: float = 120.0,
        stale_after: float = 300.0,
        decode: Decoder = decode_snapshot,
        download_attempts: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._key = operator_key
        self.max_bytes = max_bytes
        self.download_timeout = download_timeout
        self.stale_after = stale_after
        self._decode = decode
        self._download_attempts = download_attempts
        self._clock = clock
        self._lock = asyncio.Lock()
        self.snapshot: Snapshot | None = None
        self.snapshot_url: str | None = None
        self.snapshot_time: float | None = None  # unix time the snapshot describes
        self.clore_price: float | None = None
        self._last_known_price: float | None = None
        self._previous: tuple[Snapshot | None, str | None, float | None, float | None] = (
            None, None, None, None)

    def seed(self, snapshot: Snapshot, url: str, clore_price: float | None) -> None:
        """Start from a snapshot applied before a restart: the next download is decoded
        against it (unchanged servers stay the same objects) and is skipped while clore
        still publishes the same URL."""
        self.snapshot, self.snapshot_url = snapshot, url
        self.snapshot_time = snapshot_timestamp(url)
        self.clore_price = self._last_known_price = clore_price

    def age_seconds(self) -> float | None:
        if self.snapshot_time is None:
            return None
        return max(0.0, self._clock() - self.snapshot_time)

    async def poll(self) -> PollResult:
        async with self._lock:  # two overlapping polls would download the same file twice
            return await self._poll()

    async def _poll(self) -> PollResult:
        try:
            info = await self._client.get_gigaspot(self._key)
        except CloreError as exc:
            log.debug("get_gigaspot failed: %s", exc)
            return self._result(None, is_new=False, failure=exc)
        if info.clore_price is not None:
            self._last_known_price = info.clore_price
        if info.snapshot_url == self.snapshot_url:
            return self._result(info, is_new=False)
        try:
            data = await self._client.download(
                info.snapshot_url, max_bytes=self.max_bytes, time_limit=self.download_timeout,
                attempts=self._download_attempts,
            )
            snapshot = await asyncio.to_thread(self._decode, data, self.snapshot)
            if not snapshot.servers and self.snapshot is not None and self.snapshot.servers:
                raise SnapshotError("snapshot is empty while the previous one had servers")
        # Not only SnapshotError: deeply nested JSON raises RecursionError, and whatever a
        # hostile file makes the decoder raise must leave the snapshot in force untouched.
        except Exception as exc:
            log.debug("snapshot %s rejected: %s", safe_url(info.snapshot_url), exc)
            return self._result(info, is_new=False, failure=_snapshot_failure(exc))
        self._previous = (self.snapshot, self.snapshot_url, self.snapshot_time, self.clore_price)
        self.snapshot = snapshot
        self.snapshot_url = info.snapshot_url
        self.snapshot_time = snapshot_timestamp(info.snapshot_url) or self._clock()
        self.clore_price = (
            info.clore_price if info.clore_price is not None else self._last_known_price
        )
        return self._result(info, is_new=True)

    def reject(self, poll: PollResult, failure: Exception) -> PollResult:
        """The new snapshot of `poll` could not be applied: put the previous one back in
        force (the next poll downloads that URL again) and describe the poll as bringing no
        new data."""
        if poll.is_new and poll.snapshot_url == self.snapshot_url:
            self.snapshot, self.snapshot_url, self.snapshot_time, self.clore_price = (
                self._previous
            )
        return self._result(poll.info, is_new=False, failure=failure)

    def _result(
        self, info: GigaspotInfo | None, *, is_new: bool, failure: Exception | None = None
    ) -> PollResult:
        age = self.age_seconds()
        return PollResult(
            snapshot=self.snapshot,
            is_new=is_new,
            info=info,
            age_seconds=age,
            stale=age is None or age > self.stale_after,
            error=None if failure is None else str(failure),
            failure=failure,
            snapshot_url=self.snapshot_url,
            clore_price=self.clore_price,
        )
