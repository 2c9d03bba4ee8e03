"""The clore.ai GigaSPOT API over a simulated market: real HTTP on 127.0.0.1, in a thread.

The demo (`gigaspot-bot demo`) runs the bot against it, and the test suite's fake clore
(`tests/fakes/clore_server.py`, `FakeClore`) is this class. Usable from sync tests, async
tests and by a bot running in a subprocess (point `CLORE_API_URL` at `fake.url`). Standalone:

    python -m bot.simulated.clore_api --port 8555 \
        --snapshot /work/shared/data/seed-snapshot.json --key demo=42

In a test:

    with FakeClore(keys={"k-alice": 7}, interval=0.1) as fake:
        fake.market["1"] = make_server(min_bid=10, bids=[make_bid(owner=9, order_id=5, price=12)])
        fake.publish()                                   # market -> new snapshot URL
        fake.fail("create_gigaspot_orders", "drop", apply=True)   # apply, then cut
        ... drive the client or the bot against fake.url ...
        assert len(fake.calls_for("create_gigaspot_orders")) == 1

What it does:
- `GET /v1/get_gigaspot`, `/v1/wallets`, `/v1/my_orders`, `POST /v1/create_gigaspot_orders`,
  `/v1/edit_gigaspot_orders`, `/v1/cancel_orders`, with the docs' reply shapes; the
  snapshot file at `/snapshots/prod_<seq>_<unix ts>.json` (plain GET, endpoint "snapshot").
- `auth` header checked against `keys` (key -> clore user id); a bad key gets code 3, or
  HTTP 401 with `auth_failure_status=401`.
- One request per `interval` seconds per key (every keyed request counts): code 5, or
  HTTP 429 + Retry-After with `throttle_status=429`. `interval=0` disables it.
- The market's state and the order endpoints' rules are `sim` (`bot.simulated.market`):
  wallets, `my_orders` with creation times, refusal lists, expiry on `clock`.
- Order calls change `market` (server id -> server JSON, as in the seed snapshot); the
  change is visible once `publish()` makes a new snapshot URL (`auto_publish=True`
  publishes after every order call that changed something).
- Faults, per endpoint, optionally per key, for the next `times` calls: see `fail()`.
  `hold()` parks matching requests until the test sets the returned event.
- `calls` records every request: `Call(endpoint, method, path, key, user_id, body, at, ...)`,
  `at` being `time.monotonic()` on arrival. `wait_for_calls()` blocks until some arrive.
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.simulated.market import CURRENCY, SimulatedMarket

SNAPSHOT = "snapshot"
READS = ("get_gigaspot", "wallets", "my_orders")
WRITES = ("create_gigaspot_orders", "edit_gigaspot_orders", "cancel_orders")
ENDPOINTS = (*READS, *WRITES, SNAPSHOT)
FAULT_KINDS = (
    "http", "throttle", "code", "hang", "truncated", "empty", "wrong_types", "oversized",
    "drop", "hold",
)

# Replies whose fields have the wrong JSON types, per endpoint.
WRONG_TYPES: dict[str, Any] = {
    "get_gigaspot": {"my_user_id": "three", "v1_snapshot_url": 42, "creation_fees": [], "code": 0},
    "create_gigaspot_orders": {
        "failed_to_oc_servers": "none", "failed_to_rent_servers": {},
        "too_low_bids_servers": [True], "code": 0,
    },
    "edit_gigaspot_orders": {
        "success_to_update_ids": "all", "failed_to_update_ids": None, "too_low_bid_ids": 5,
        "code": 0,
    },
    "cancel_orders": {"failed_to_cancel": "none", "code": 0},
    "wallets": {"wallets": {"name": 1}, "code": 0},
    "my_orders": {"orders": "none", "code": 0},
    SNAPSHOT: [1, 2, 3],
}


@dataclass
class Call:
    endpoint: str  # one of ENDPOINTS, or "unknown"
    method: str
    path: str
    key: str | None  # the `auth` header as received
    user_id: int | None  # whose key it is, None when unknown
    body: Any  # parsed JSON body (None for GET or unparseable)
    at: float  # time.monotonic() on arrival
    status: int | None = None  # HTTP status replied (None: no reply, e.g. dropped)
    code: int | None = None  # clore code replied
    fault: str | None = None  # the injected fault kind, if any
    applied: bool = False  # an order call changed the market


@dataclass
class Fault:
    endpoint: str
    kind: str
    times: int
    key: str | None = None
    skip: int = 0  # let this many matching calls through first
    apply: bool = False
    status: int = 500
    retry_after: float | None = 1.0
    code: int = 6
    error: str = "not_enough_balance"
    hang: float = 5.0
    size: int = 2 * 2**20
    declare_length: bool = True
    gate: threading.Event = field(default_factory=threading.Event)


class CloreServer:
    """The clore HTTP API over a `SimulatedMarket` (`sim`), with pacing and injected faults."""

    def __init__(
        self,
        *,
        keys: dict[str, int] | None = None,
        market: dict[str, dict[str, Any]] | None = None,
        interval: float = 1.0,
        clore_price: float | None = 0.05,
        creation_fees: dict[str, float] | None = None,
        auto_publish: bool = False,
        auth_failure_status: int = 200,
        throttle_status: int = 200,
        cancel_ids_as_strings: bool = True,
        first_order_id: int = 700000,
        port: int = 0,
        host: str = "127.0.0.1",
        sim: SimulatedMarket | None = None,
    ) -> None:
        self.keys = dict(keys or {})
        self.sim = sim or SimulatedMarket(
            servers=market if market is not None else {}, clore_price=clore_price,
            creation_fees=creation_fees or {CURRENCY: 0.045}, next_order_id=first_order_id,
            cancel_ids_as_strings=cancel_ids_as_strings,
        )
        self.interval = interval
        self.auto_publish = auto_publish
        self.auth_failure_status = auth_failure_status
        self.throttle_status = throttle_status
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.snapshots: dict[str, bytes] = {}  # file name -> published bytes
        self.keep_snapshots = 0  # >0: only the newest this many stay downloadable
        self.snapshot_url = ""
        self.lock = self.sim.lock  # hold it to edit `market` while requests may run
        self._changed = threading.Condition(self.lock)
        self._last_arrival: dict[str, float] = {}
        self._seq = 0
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    # The market's state, under the names the tests have always used.

    @property
    def market(self) -> dict[str, dict[str, Any]]:
        return self.sim.servers

    @market.setter
    def market(self, servers: dict[str, dict[str, Any]]) -> None:
        self.sim.servers = servers

    @property
    def wallets(self) -> dict[int, list[dict[str, Any]]]:
        return self.sim.wallets

    @property
    def clock(self) -> Callable[[], float]:
        """"now" for snapshot names, order creation times and expiry."""
        return self.sim.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.sim.clock = clock

    @property
    def clore_price(self) -> float | None:
        """None: the field is left out of get_gigaspot."""
        return self.sim.clore_price

    @clore_price.setter
    def clore_price(self, price: float | None) -> None:
        self.sim.clore_price = price

    @property
    def creation_fees(self) -> dict[str, float]:
        return self.sim.creation_fees

    @property
    def cancel_ids_as_strings(self) -> bool:
        return self.sim.cancel_ids_as_strings

    @cancel_ids_as_strings.setter
    def cancel_ids_as_strings(self, value: bool) -> None:
        self.sim.cancel_ids_as_strings = value

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> CloreServer:
        if not self.snapshot_url:
            self.publish()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends hangs
        with self.lock:
            for fault in self.faults:
                fault.gate.set()  # ends holds
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CloreServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- driving it ------------------------------------------------------------------

    def publish(
        self, *, timestamp: int | None = None, raw: bytes | None = None, name: str | None = None
    ) -> str:
        """Publish the market (or `raw` bytes as is) under a new URL and return the URL.

        The file is `prod_<seq>_<timestamp>.json` (timestamp: now by default) unless `name`.
        """
        with self.lock:
            if raw is None:
                self.sim.expire()
            data = raw if raw is not None else json.dumps(self.market).encode()
            self._seq += 1
            ts = int(self.clock()) if timestamp is None else timestamp
            name = name or f"prod_{self._seq}_{ts}.json"
            self.snapshots[name] = data
            if self.keep_snapshots > 0:  # a long demo must not keep every snapshot in memory
                for old in list(self.snapshots)[: -self.keep_snapshots]:
                    del self.snapshots[old]
            self.snapshot_url = f"{self.url}/snapshots/{name}"
            return self.snapshot_url

    def fail(self, endpoint: str, kind: str, *, times: int = 1, **options: Any) -> Fault:
        """Make the next `times` calls of `endpoint` fail in the way `kind` says:

        - "http": HTTP `status` (default 500) with a JSON body without code
        - "throttle": HTTP 429 with `Retry-After: retry_after` (None: no header)
        - "code": HTTP 200 `{"code": code, "error": error}` (default 6 / not_enough_balance)
        - "hang": no reply for `hang` seconds (default 5), then close
        - "truncated": the normal reply cut in half; "empty": `{}`;
          "wrong_types": fields of the wrong JSON type (see WRONG_TYPES)
        - "oversized": `size` bytes (default 2 MiB), with Content-Length unless
          `declare_length=False`
        - "drop": close the connection without a reply
        Options: `key` (only that key's calls), `skip` (let that many matching calls through
        first), `apply` (order calls: apply the order first, then fail; this is how to test
        ambiguity). A fault that matches is used before later ones (first in, first used).
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        fault = Fault(endpoint=endpoint, kind=kind, times=times, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def hold(self, endpoint: str, *, key: str | None = None, times: int = 1) -> threading.Event:
        """Park the next matching calls until the returned event is set; then they proceed."""
        return self.fail(endpoint, "hold", key=key, times=times).gate

    def calls_for(self, endpoint: str, *, key: str | None = None) -> list[Call]:
        with self.lock:
            return [
                c for c in self.calls
                if c.endpoint == endpoint and (key is None or c.key == key)
            ]

    def wait_for_calls(
        self, count: int, endpoint: str | None = None, *, timeout: float = 10.0,
        replied: bool = False,
    ) -> list[Call]:
        """Block until `count` calls (of `endpoint`) have arrived (and been replied)."""
        def matching() -> list[Call]:
            return [
                c for c in self.calls
                if (endpoint is None or c.endpoint == endpoint)
                and (not replied or c.status is not None or c.fault in ("drop", "hang"))
            ]
        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"{len(matching())} of {count} calls to {endpoint}")
            return matching()

    def bids_of(self, user_id: int) -> list[tuple[str, dict[str, Any]]]:
        return self.sim.bids_of(user_id)

    def advance(self) -> None:
        """Charge running bids for the time passed and expire old orders (see the market)."""
        self.sim.advance()

    # ---- request handling (server threads) ---------------------------------------------

    def _take_fault(self, endpoint: str, key: str | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint == endpoint and fault.key in (None, key) and fault.times > 0:
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    def _throttled(self, key: str, now: float) -> bool:
        with self.lock:
            last = self._last_arrival.get(key)
            self._last_arrival[key] = now
            return self.interval > 0 and last is not None and now - last < self.interval

    def _note(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _replied(self, call: Call, status: int | None, code: int | None) -> None:
        with self._changed:
            call.status, call.code = status, code
            self._changed.notify_all()

    def _apply(
        self, endpoint: str, user_id: int, body: Any, params: dict[str, str]
    ) -> dict[str, Any]:
        sim = self.sim
        with self.lock:
            sim.expire()
            if endpoint == "get_gigaspot":
                return sim.get_gigaspot(user_id, self.snapshot_url)
            if endpoint == "wallets":
                return sim.wallets_reply(user_id)
            if endpoint == "my_orders":
                return sim.my_orders(user_id, params.get("return_completed") == "true")
            handler = {
                "create_gigaspot_orders": sim.create,
                "edit_gigaspot_orders": sim.edit,
                "cancel_orders": sim.cancel,
            }[endpoint]
            return handler(user_id, body)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SimulatedClore/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake: CloreServer = self.server.fake  # type: ignore[attr-defined]
        arrived = time.monotonic()
        parts = urlsplit(self.path)
        params = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        endpoint = "unknown"
        if parts.path.startswith("/snapshots/"):
            endpoint = SNAPSHOT
        elif parts.path.startswith("/v1/") and parts.path[4:] in (*READS, *WRITES):
            endpoint = parts.path[4:]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        key = self.headers.get("auth")
        call = Call(endpoint, self.command, self.path, key, fake.keys.get(key or ""), body,
                    arrived)
        fake._note(call)
        throttled = endpoint not in (SNAPSHOT, "unknown") and fake._throttled(key or "", arrived)
        fault = fake._take_fault(endpoint, key)
        if fault is not None and fault.kind == "hold":
            fault.gate.wait(timeout=30)
            fault = None
        try:
            self._respond(fake, call, endpoint, fault, throttled, params, parts.path)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeouts, size caps): expected here

    def _respond(
        self, fake: CloreServer, call: Call, endpoint: str, fault: Fault | None,
        throttled: bool, params: dict[str, str], path: str,
    ) -> None:
        if endpoint == "unknown":
            if path.startswith("/v1/"):
                return self._json(fake, call, 200, {"code": 4, "error": "invalid endpoint"})
            return self._json(fake, call, 404, {"error": "not found"})
        if fault is not None and not fault.apply:
            return self._fault(fake, call, fault, endpoint, None)
        if endpoint == SNAPSHOT:
            data = fake.snapshots.get(path.rsplit("/", 1)[-1])
            if data is None:
                return self._json(fake, call, 404, {"error": "no such snapshot"})
            return self._send(fake, call, 200, data)
        if call.user_id is None:
            status = fake.auth_failure_status
            return self._json(fake, call, status, {"code": 3, "error": "invalid api token"})
        if throttled:
            status = fake.throttle_status
            headers = {"Retry-After": "1"} if status == 429 else {}
            return self._json(fake, call, status, {"code": 5, "error": "rate limited"}, headers)
        if (endpoint in WRITES and self.command != "POST") or (
            endpoint in READS and self.command != "GET"
        ):
            return self._json(fake, call, 200, {"code": 4, "error": "invalid method"})
        reply = fake._apply(endpoint, call.user_id, call.body, params)
        call.applied = bool(reply.pop("applied", False))
        if call.applied and fake.auto_publish:
            fake.publish()
        reply.setdefault("code", 0)
        if fault is not None:
            return self._fault(fake, call, fault, endpoint, reply)
        return self._json(fake, call, 200, reply)

    def _fault(
        self, fake: CloreServer, call: Call, fault: Fault, endpoint: str, reply: Any
    ) -> None:
        call.fault = fault.kind
        if reply is None and endpoint in READS and call.user_id is not None:
            reply = fake._apply(endpoint, call.user_id, None, {})  # reads change nothing
            reply.setdefault("code", 0)
        if reply is None:
            reply = (
                json.loads(fake.snapshots.get(fake.snapshot_url.rsplit("/", 1)[-1], b"{}"))
                if endpoint == SNAPSHOT else {"code": 0}
            )
        if fault.kind == "http":
            return self._json(fake, call, fault.status, {"error": "internal server error"})
        if fault.kind == "throttle":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after}"}
            return self._json(fake, call, 429, {"error": "too many requests"}, headers)
        if fault.kind == "code":
            return self._json(fake, call, 200, {"code": fault.code, "error": fault.error})
        if fault.kind == "hang":
            fake._stopping.wait(fault.hang)
            return None  # close without a reply
        if fault.kind == "drop":
            return None
        if fault.kind == "truncated":
            data = json.dumps(reply).encode()
            return self._send(fake, call, 200, data[: max(1, len(data) // 2)])
        if fault.kind == "empty":
            return self._json(fake, call, 200, {})
        if fault.kind == "wrong_types":
            return self._json(fake, call, 200, WRONG_TYPES[endpoint])
        if fault.kind == "oversized":
            data = b'{"code": 0, "pad": "' + b"x" * fault.size + b'"}'
            return self._send(fake, call, 200, data, declare_length=fault.declare_length)
        raise AssertionError(fault.kind)

    def _json(
        self, fake: CloreServer, call: Call, status: int, payload: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        code = payload.get("code") if isinstance(payload, dict) else None
        self._send(fake, call, status, json.dumps(payload).encode(), headers=headers, code=code)

    def _send(
        self, fake: CloreServer, call: Call, status: int, data: bytes, *,
        headers: dict[str, str] | None = None, code: int | None = None,
        declare_length: bool = True,
    ) -> None:
        fake._replied(call, status, code)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if declare_length:
            self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        for start in range(0, len(data), 65536):
            self.wfile.write(data[start : start + 65536])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated clore.ai GigaSPOT API")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--snapshot", type=Path, help="seed market (a snapshot JSON file)")
    parser.add_argument("--key", action="append", default=[], help="API key as KEY=USER_ID")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between requests")
    parser.add_argument("--clore-price", type=float, default=0.05)
    parser.add_argument("--no-auto-publish", action="store_true")
    args = parser.parse_args(argv)
    keys = {k: int(uid) for k, _, uid in (item.partition("=") for item in args.key)}
    market = json.loads(args.snapshot.read_bytes()) if args.snapshot else {}
    fake = CloreServer(
        keys=keys, market=copy.deepcopy(market), interval=args.interval,
        clore_price=args.clore_price, auto_publish=not args.no_auto_publish, port=args.port,
    )
    fake.start()
    print(f"fake clore listening on {fake.url} (CLORE_API_URL={fake.url})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
