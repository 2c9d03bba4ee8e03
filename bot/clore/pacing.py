"""One queue per API key: clore allows one request per second per key.

Requests of one key run one at a time, in the order they asked (asyncio.Lock wakes waiters
first-in first-out), and the next one starts `interval` seconds after the previous one
*finished*. Counting from the end rather than the start is deliberate: clore counts arrivals,
and a request's arrival lies somewhere between our send and its reply, so only end-to-start
spacing guarantees arrivals at least `interval` apart. Different keys never wait for each other.

Keys are held by fingerprint only, so the pacer's state never contains a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


def key_fingerprint(api_key: str) -> str:
    """A short, stable, non-reversible tag for logs and maps ("k:1a2b3c4d")."""
    return "k:" + hashlib.sha256(api_key.encode()).hexdigest()[:8]


@dataclass
class _KeyQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    not_before: float = 0.0


class KeyPacer:
    """Spaces the requests of each API key; share one instance per process."""

    def __init__(
        self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if interval < 0:
            raise ValueError("interval must be >= 0")
        self.interval = interval
        self._clock = clock
        self._queues: dict[str, _KeyQueue] = {}

    def _queue(self, api_key: str) -> _KeyQueue:
        return self._queues.setdefault(key_fingerprint(api_key), _KeyQueue())

    @asynccontextmanager
    async def slot(self, api_key: str) -> AsyncIterator[None]:
        """Wait for this key's turn, then hold it while the body (one request) runs."""
        queue = self._queue(api_key)
        async with queue.lock:
            delay = queue.not_before - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                yield
            finally:
                queue.not_before = max(queue.not_before, self._clock() + self.interval)

    def defer(self, api_key: str, seconds: float) -> None:
        """Hold back every further request of this key for `seconds` (after a 429/code 5)."""
        queue = self._queue(api_key)
        queue.not_before = max(queue.not_before, self._clock() + seconds)
