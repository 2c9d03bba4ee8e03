"""The test suite's fake clore.ai API: the product's simulated clore (one fake, not two).

`FakeClore` is `bot.simulated.clore_api.CloreServer`; see its docstring for the knobs (keys,
pacing, faults, `publish()`, `calls`) and `bot.simulated.market` for the market's rules
(wallets, `my_orders`, refusals, expiry on an injected clock).
"""

from __future__ import annotations

from bot.simulated.clore_api import (
    ENDPOINTS,
    FAULT_KINDS,
    READS,
    SNAPSHOT,
    WRITES,
    WRONG_TYPES,
    Call,
    CloreServer,
    Fault,
)
from bot.simulated.market import SimulatedMarket, make_bid, make_server

FakeClore = CloreServer

__all__ = [
    "ENDPOINTS", "FAULT_KINDS", "READS", "SNAPSHOT", "WRITES", "WRONG_TYPES", "Call",
    "CloreServer", "FakeClore", "Fault", "SimulatedMarket", "make_bid", "make_server",
]
