"""clore.ai: the API client (paced per key), its errors, and the snapshot fetcher."""

from bot.clore.client import DEFAULT_BASE_URL, CloreClient
from bot.clore.errors import CloreError
from bot.clore.fetcher import PollResult, SnapshotFetcher
from bot.clore.models import (
    CancelResult,
    CreateResult,
    EditResult,
    GigaspotInfo,
    NewOrder,
    OrderEdit,
    Overclock,
    Wallet,
)
from bot.clore.pacing import KeyPacer, key_fingerprint

__all__ = [
    "DEFAULT_BASE_URL",
    "CancelResult",
    "CloreClient",
    "CloreError",
    "CreateResult",
    "EditResult",
    "GigaspotInfo",
    "KeyPacer",
    "NewOrder",
    "OrderEdit",
    "Overclock",
    "PollResult",
    "SnapshotFetcher",
    "Wallet",
    "key_fingerprint",
]
