"""The state of a simulated GigaSPOT market and what clore's order endpoints do to it.

One implementation, used by the demo (`gigaspot-bot demo`) and by the test suite's fake clore
(`tests/fakes/clore_server.py`): the replies have the wire shapes of
`/work/shared/docs/gigaspot-api.md`; the HTTP layer (`bot.simulated.clore_api`) adds
`code: 0`, authentication, pacing and injected faults.

What is modelled, and what is inferred (clore publishes no formula):
- `servers` is the snapshot document (server id -> server JSON). Orders live as bids in it;
  `orders` keeps what the snapshot does not show: creation time `ct`, the order's longest
  life `mrl` (the machine's `max_rental_length` at creation, at most 20 days), money spent,
  and how it ended (cancelled / expired), for `my_orders`.
- An order expires `mrl` seconds after `ct` on the injected `clock`; `expire()` (run before
  every reply and every publish) drops it from its machine's bids.
- `advance()` charges the winning bid of every rentable machine (highest price minus energy)
  from its owner's CLORE wallet for the time passed; the demo calls it on every tick, tests
  call it when they want money to move. Wallets are per clore account, i.e. per API key.
- Refusals: `create` answers `failed_to_rent_servers` (unknown, offline or not rentable
  machine), `failed_to_oc_servers` (wrong number of GPUs or a power limit outside a GPU's
  range), `too_low_bids_servers` (below `min_bid`); `edit` answers `failed_to_update_ids`
  (unknown, foreign or ended order, bad power limit) and `too_low_bid_ids`. A `create` with
  a CLORE balance below the creation fee gets code 6 `not_enough_balance`.
- `refuse` forces a refusal list for the next calls (a test knob for cases data cannot make).

Callers hold `lock` around everything (the HTTP threads and the demo's ticker share it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

CURRENCY = "CLORE-Blockchain"
MAX_ORDER_SECONDS = 20 * 86400  # "orders last at most 20 days"
Refusal = Literal[
    "too_low_bids_servers", "failed_to_oc_servers", "failed_to_rent_servers",
    "too_low_bid_ids", "failed_to_update_ids",
]
CREATE_REFUSALS = ("too_low_bids_servers", "failed_to_oc_servers", "failed_to_rent_servers")
EDIT_REFUSALS = ("too_low_bid_ids", "failed_to_update_ids")


def make_bid(
    owner: int, order_id: int, price: float, *, pl: int = 300, active: bool = True,
    currency: str = CURRENCY, to_cache: bool = False, cached: bool = False,
) -> dict[str, Any]:
    return {
        "owner": owner, "id": order_id, "active": active, "to_cache": to_cache,
        "cached": cached, "price": price, "currency": currency, "pl": pl,
    }


def make_server(
    *, gpus: int = 1, gpu_model: str = "RTX 4090", pl: tuple[int, int] = (100, 450),
    min_bid: float = 10.0, bids: list[dict[str, Any]] | None = None, **overrides: Any,
) -> dict[str, Any]:
    """A server entry shaped like the seed snapshot's; `overrides` replace any field."""
    gpu = {
        "pl": list(pl), "mem_lock": [405, 10501], "core_lock": [210, 3105],
        "mem_offset": [-2000, 2000], "core_offset": [-1000, 1000], "model": gpu_model,
    }
    server = {
        "bids": list(bids or []), "on_demand_rented": False, "online": True,
        "cpu": "AMD Ryzen 9 7950X", "cores": 16, "threads": 32, "ram": 128.0,
        "gpus": [dict(gpu) for _ in range(gpus)], "working_properly": True, "cuda": "12.4",
        "max_rental_length": 864000, "cc": "DE", "host": 1, "reliability": 0.99,
        "min_bid": min_bid, "energy_price": 0.1,
    }
    server.update(overrides)
    return server


def default_wallet(balance: float = 100.0) -> dict[str, Any]:
    return {"name": CURRENCY, "deposit": "simulated-deposit-address", "balance": balance,
            "withdrawal_fee": 0.0001}


def energy(pl: float, energy_price: float, clore_price: float | None) -> float:
    """The same working model as `bot.market.ranking.energy`, on plain JSON values."""
    if not clore_price:
        return 0.0
    return pl * 24 / 1000 * energy_price / clore_price


def bid_score(bid: dict[str, Any], server: dict[str, Any], clore_price: float | None) -> float:
    return float(bid["price"]) - energy(bid["pl"], server["energy_price"], clore_price)


def winner(server: dict[str, Any], clore_price: float | None) -> dict[str, Any] | None:
    """The bid the host runs: the best active one, when the machine can run a bid at all."""
    if not rentable(server):
        return None
    active = [b for b in server["bids"] if b.get("active")]
    return max(active, key=lambda b: bid_score(b, server, clore_price), default=None)


def rentable(server: dict[str, Any]) -> bool:
    return bool(
        server.get("online") and not server.get("on_demand_rented")
        and server.get("max_rental_length", 0) > 0
    )


@dataclass
class Order:
    """What clore knows of an order beyond its bid in the snapshot."""

    id: int
    owner: int
    server_id: str
    currency: str
    ct: int  # creation time, unix seconds
    mrl: int  # seconds it may live
    spend: float = 0.0
    ended: Literal["cancelled", "expired"] | None = None
    last_price: float | None = None  # the bid's price when the order ended

    def end(self, how: Literal["cancelled", "expired"], bid: dict[str, Any] | None) -> None:
        self.ended = how
        if bid is not None:
            self.last_price = bid["price"]

    @property
    def ends_at(self) -> int:
        return self.ct + self.mrl


@dataclass
class SimulatedMarket:
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    clore_price: float | None = 0.05
    creation_fees: dict[str, float] = field(default_factory=lambda: {CURRENCY: 0.045})
    next_order_id: int = 700000
    cancel_ids_as_strings: bool = True  # the docs' type; the SDK's is int
    wallets: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    forced: list[tuple[Refusal, int, int | None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    charged_until: float | None = None

    # ---- driving it (tests, the demo) -------------------------------------------------

    def set_balance(self, user_id: int, balance: float, currency: str = CURRENCY) -> None:
        with self.lock:
            for wallet in self.wallets_of(user_id):
                if wallet["name"] == currency:
                    wallet["balance"] = balance
                    return
            self.wallets[user_id].append({**default_wallet(balance), "name": currency})

    def refuse(self, refusal: Refusal, *, times: int = 1, target: int | None = None) -> None:
        """The next `times` creates (or edits) put their order (for `target`, a server id or
        an order id, only that one) into the `refusal` list, whatever the data says."""
        with self.lock:
            self.forced.append((refusal, times, target))

    def bids_of(self, user_id: int) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [
                (sid, bid) for sid, server in self.servers.items()
                for bid in server["bids"] if bid["owner"] == user_id
            ]

    def place(self, user_id: int, server_id: str, price: float, pl: int) -> dict[str, Any]:
        """A bid made without the API (the demo's rivals); returns it."""
        with self.lock:
            server = self.servers[server_id]
            bid = make_bid(user_id, self._new_order(user_id, server_id, server), price, pl=pl)
            server["bids"].append(bid)
            return bid

    def expire(self) -> list[Order]:
        """End every order past its life; returns those that ended now."""
        now = self.clock()
        ended = []
        with self.lock:
            for order in self.orders.values():
                if order.ended is None and order.ends_at <= now:
                    order.end("expired", self._remove_bid(order.id))
                    ended.append(order)
        return ended

    def advance(self) -> None:
        """Charge every running bid for the time since the last call, then expire orders."""
        now = self.clock()
        with self.lock:
            since, self.charged_until = self.charged_until, now
            if since is not None and now > since:
                days = (now - since) / 86400
                for server in self.servers.values():
                    bid = winner(server, self.clore_price)
                    if bid is not None and bid["owner"] in self.wallets:
                        self._charge(bid, days)
            self.expire()

    # ---- the endpoints (replies without `code`; `applied`: the market changed) ---------

    def get_gigaspot(self, user_id: int, snapshot_url: str) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "my_user_id": user_id, "v1_snapshot_url": snapshot_url,
            "creation_fees": dict(self.creation_fees),
        }
        if self.clore_price is not None:
            reply["clore_price"] = self.clore_price
        return reply

    def wallets_reply(self, user_id: int) -> dict[str, Any]:
        with self.lock:
            return {"wallets": [dict(w) for w in self.wallets_of(user_id)]}

    def my_orders(self, user_id: int, return_completed: bool = False) -> dict[str, Any]:
        with self.lock:
            self.expire()
            for sid, bid in self.bids_of(user_id):  # bids a test put straight into `servers`
                if bid["id"] not in self.orders:
                    self.orders[bid["id"]] = self._order(bid["id"], user_id, sid,
                                                         self.servers[sid], bid["currency"])
            orders = []
            for order in self.orders.values():
                if order.owner != user_id or (order.ended and not return_completed):
                    continue
                found = self._find_bid(order.id)
                live = found[1] if found else None
                orders.append({
                    "id": order.id, "server_id": int(order.server_id),
                    "price": live["price"] if live else order.last_price,
                    "currency": order.currency,
                    "active": bool(live and live["active"]), "spot": True,
                    "ct": order.ct, "mrl": order.mrl, "spend": round(order.spend, 6),
                    "expired": order.ended == "expired",
                    "cancelled": order.ended == "cancelled",
                })
            return {"orders": orders}

    def create(self, user_id: int, body: Any) -> dict[str, Any]:
        if not isinstance(body, list) or not all(_valid_new_order(o) for o in body):
            return {"code": 2, "error": "invalid orders"}
        with self.lock:
            self.expire()
            balance = self._balance(user_id)
            fee = self.creation_fees.get(CURRENCY, 0.0)
            if balance is not None and balance < fee * len(body):
                return {"code": 6, "error": "not_enough_balance"}
            lists: dict[str, list[int]] = {name: [] for name in CREATE_REFUSALS}
            for order in body:
                sid = order["renting_server"]
                refusal = self._forced(CREATE_REFUSALS, sid) or self._create_refusal(order)
                if refusal is not None:
                    lists[refusal].append(sid)
                    continue
                server = self.servers[str(sid)]
                order_id = self._new_order(user_id, str(sid), server,
                                           order.get("currency", CURRENCY))
                server["bids"].append(make_bid(
                    user_id, order_id, order["price"], pl=sum(o["pl"] for o in order["oc"]),
                    currency=order.get("currency", CURRENCY),
                ))
                if balance is not None:
                    self._debit(user_id, fee)
            refused = sum(len(ids) for ids in lists.values())
            return {"status": "ok", **lists, "applied": len(body) > refused}

    def edit(self, user_id: int, body: Any) -> dict[str, Any]:
        if not isinstance(body, list) or not all(
            isinstance(x, dict) and isinstance(x.get("order_id"), int)
            and isinstance(x.get("price"), int | float) for x in body
        ):
            return {"code": 2, "error": "invalid edits"}
        with self.lock:
            self.expire()
            success: list[int] = []
            lists: dict[str, list[int]] = {name: [] for name in EDIT_REFUSALS}
            for change in body:
                order_id = change["order_id"]
                found = self._find_bid(order_id)
                refusal = self._forced(EDIT_REFUSALS, order_id)
                if refusal is None:
                    refusal = self._edit_refusal(user_id, change, found)
                if refusal is not None or found is None:
                    lists[refusal or "failed_to_update_ids"].append(order_id)
                    continue
                found[1]["price"] = change["price"]
                if change.get("oc"):
                    found[1]["pl"] = sum(o["pl"] for o in change["oc"])
                success.append(order_id)
            return {"success_to_update_ids": success, **lists, "applied": bool(success)}

    def cancel(self, user_id: int, body: Any) -> dict[str, Any]:
        ids = body.get("order_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids) or len(ids) > 64:
            return {"code": 2, "error": "order_ids must be a list of at most 64 ints"}
        with self.lock:
            self.expire()
            failed: list[int | str] = []
            for order_id in ids:
                found = self._find_bid(order_id)
                if found is None or found[1]["owner"] != user_id:
                    failed.append(str(order_id) if self.cancel_ids_as_strings else order_id)
                    continue
                found[0]["bids"].remove(found[1])
                if order_id in self.orders:
                    self.orders[order_id].end("cancelled", found[1])
            return {"failed_to_cancel": failed, "applied": len(failed) < len(ids)}

    # ---- internals (lock held) ----------------------------------------------------------

    def wallets_of(self, user_id: int) -> list[dict[str, Any]]:
        """The account's wallets; a new account starts with 100 CLORE."""
        return self.wallets.setdefault(user_id, [default_wallet()])

    def _balance(self, user_id: int) -> float | None:
        for wallet in self.wallets_of(user_id):
            if wallet.get("name") == CURRENCY and isinstance(wallet.get("balance"), int | float):
                return float(wallet["balance"])
        return None

    def _debit(self, user_id: int, amount: float) -> None:
        for wallet in self.wallets_of(user_id):
            if wallet.get("name") == CURRENCY and isinstance(wallet.get("balance"), int | float):
                wallet["balance"] = round(max(0.0, wallet["balance"] - amount), 8)

    def _charge(self, bid: dict[str, Any], days: float) -> None:
        cost = float(bid["price"]) * days
        self._debit(bid["owner"], cost)
        order = self.orders.get(bid["id"])
        if order is not None:
            order.spend += cost

    def _order(self, order_id: int, owner: int, server_id: str, server: dict[str, Any],
               currency: str = CURRENCY) -> Order:
        mrl = min(int(server.get("max_rental_length") or 0), MAX_ORDER_SECONDS)
        return Order(order_id, owner, server_id, currency, int(self.clock()), mrl)

    def _new_order(self, owner: int, server_id: str, server: dict[str, Any],
                   currency: str = CURRENCY) -> int:
        order_id = self.next_order_id
        self.next_order_id += 1
        self.orders[order_id] = self._order(order_id, owner, server_id, server, currency)
        return order_id

    def _find_bid(self, order_id: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for server in self.servers.values():
            for bid in server["bids"]:
                if bid["id"] == order_id:
                    return server, bid
        return None

    def _remove_bid(self, order_id: int) -> dict[str, Any] | None:
        found = self._find_bid(order_id)
        if found is None:
            return None
        found[0]["bids"].remove(found[1])
        return found[1]

    def _forced(self, names: tuple[str, ...], target: int) -> Refusal | None:
        for index, (refusal, times, only) in enumerate(self.forced):
            if refusal in names and times > 0 and only in (None, target):
                self.forced[index] = (refusal, times - 1, only)
                return refusal
        return None

    def _create_refusal(self, order: dict[str, Any]) -> Refusal | None:
        server = self.servers.get(str(order["renting_server"]))
        if server is None or server["max_rental_length"] == 0 or not server.get("online", True):
            return "failed_to_rent_servers"
        if not _oc_fits(server, order["oc"]):
            return "failed_to_oc_servers"
        if order["price"] < server["min_bid"]:
            return "too_low_bids_servers"
        return None

    def _edit_refusal(
        self, user_id: int, change: dict[str, Any],
        found: tuple[dict[str, Any], dict[str, Any]] | None,
    ) -> Refusal | None:
        if found is None or found[1]["owner"] != user_id:
            return "failed_to_update_ids"
        if change.get("oc") and not _oc_fits(found[0], change["oc"]):
            return "failed_to_update_ids"
        if change["price"] < found[0]["min_bid"]:
            return "too_low_bid_ids"
        return None


def _oc_fits(server: dict[str, Any], oc: Any) -> bool:
    gpus = server["gpus"]
    return (
        isinstance(oc, list) and len(oc) == len(gpus)
        and all(isinstance(o, dict) and isinstance(o.get("pl"), int) for o in oc)
        and all(g["pl"][0] <= o["pl"] <= g["pl"][1] for g, o in zip(gpus, oc, strict=True))
    )


def _valid_new_order(order: Any) -> bool:
    return (
        isinstance(order, dict)
        and isinstance(order.get("renting_server"), int)
        and isinstance(order.get("price"), int | float)
        and isinstance(order.get("image"), str)
        and isinstance(order.get("oc"), list)
        and all(isinstance(o, dict) and isinstance(o.get("pl"), int) for o in order["oc"])
    )
