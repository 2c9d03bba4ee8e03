"""How the simulated market changes between snapshots: machines, prices and rival bidders.

One `step()` is a few seconds of market life: a few machines vanish and new ones appear,
machines go offline or get rented on demand and come back, minimum bids drift, rivals bid,
raise, cancel, and outbid the players (the accounts the demo hands out) once in a while, so
match alerts and outbid alerts happen within a minute of watching. Seeded: the same seed gives
the same story for the same player actions.
"""

from __future__ import annotations

import random
from typing import Any

from bot.market.generate import generate_snapshot_dict
from bot.simulated.market import SimulatedMarket, bid_score, energy, rentable, winner


def initial_market(n_servers: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    """The generator's realistic market (bids as the generator made them)."""
    return generate_snapshot_dict(n_servers, seed)


class Evolution:
    def __init__(
        self, sim: SimulatedMarket, *, players: set[int], seed: int = 0,
        churn: float = 0.03, outbid_chance: float = 0.25,
    ) -> None:
        self.sim = sim
        self.players = players  # clore ids of the demo's accounts: rivals chase their bids
        self.rng = random.Random(seed)
        self.churn = churn  # share of machines that change in one step
        self.outbid_chance = outbid_chance  # per leading player bid per step
        with sim.lock:
            owners = {b["owner"] for s in sim.servers.values() for b in s["bids"]}
        self.rivals = sorted(owners - players) or [900001, 900002, 900003]
        self._seed = seed * 1_000_003

    def step(self) -> None:
        with self.sim.lock:
            self.sim.advance()
            ids = list(self.sim.servers)
            changes = max(1, round(len(ids) * self.churn))
            for sid in self.rng.sample(ids, min(changes, len(ids))):
                if sid in self.sim.servers:
                    self._change(sid)
            if self.rng.random() < 0.6:  # about as many as vanish: the market keeps its size
                self._appear()
            self._chase_players()

    # ---- one machine ---------------------------------------------------------------------

    def _change(self, sid: str) -> None:
        server = self.sim.servers[sid]
        played = any(b["owner"] in self.players for b in server["bids"])
        roll = self.rng.random()
        if roll < 0.04 and not played:
            self._vanish(sid)
        elif roll < 0.25 and not played:
            server["online"] = not server["online"]
        elif roll < 0.35 and not played:
            server["on_demand_rented"] = not server["on_demand_rented"]
        elif roll < 0.55:
            server["min_bid"] = round(server["min_bid"] * self.rng.uniform(0.9, 1.08), 4)
        elif roll < 0.75:
            self._rival_bids(sid, server)
        elif roll < 0.9:
            self._rival_moves(server)
        else:
            self._rival_cancels(server)

    def _vanish(self, sid: str) -> None:
        server = self.sim.servers.pop(sid)
        for bid in server["bids"]:
            order = self.sim.orders.get(bid["id"])
            if order is not None:
                order.end("cancelled", bid)

    def _appear(self) -> None:
        self._seed += 1
        [(_, server)] = generate_snapshot_dict(1, self._seed).items()
        server.update(bids=[], online=True, on_demand_rented=False, working_properly=True,
                      max_rental_length=self.rng.choice([259200, 864000, 1728000]))
        sid = str(max((int(s) for s in self.sim.servers), default=1000) + 1)
        self.sim.servers[sid] = server
        if self.rng.random() < 0.5:
            self._rival_bids(sid, server)

    # ---- rivals ----------------------------------------------------------------------------

    def _rival_bids(self, sid: str, server: dict[str, Any]) -> None:
        low = sum(g["pl"][0] for g in server["gpus"])
        high = sum(g["pl"][1] for g in server["gpus"])
        pl = self.rng.randint(low, max(low, high))
        best = winner(server, self.sim.clore_price)
        floor = server["min_bid"] + energy(pl, server["energy_price"], self.sim.clore_price)
        if best is not None and self.rng.random() < 0.5:
            floor = max(floor, self._beat(server, best, pl) - 0.5)
        price = round(floor * self.rng.uniform(1.0, 1.3), 4)
        self.sim.place(self.rng.choice(self.rivals), sid, price, pl)

    def _rival_moves(self, server: dict[str, Any]) -> None:
        mine = [b for b in server["bids"] if b["owner"] not in self.players]
        if mine:
            bid = self.rng.choice(mine)
            bid["price"] = round(max(server["min_bid"], bid["price"] * self.rng.uniform(0.85,
                                                                                        1.15)), 4)

    def _rival_cancels(self, server: dict[str, Any]) -> None:
        mine = [b for b in server["bids"] if b["owner"] not in self.players]
        if mine:
            bid = self.rng.choice(mine)
            server["bids"].remove(bid)
            order = self.sim.orders.get(bid["id"])
            if order is not None:
                order.end("cancelled", bid)

    def _chase_players(self) -> None:
        """A player's leading bid is outbid now and then: that is what the bot is for."""
        for sid, server in list(self.sim.servers.items()):
            best = winner(server, self.sim.clore_price)
            if best is None or best["owner"] not in self.players or not rentable(server):
                continue
            if self.rng.random() < self.outbid_chance:
                pl = sum(g["pl"][0] for g in server["gpus"])
                price = round(self._beat(server, best, pl) + self.rng.uniform(0.2, 2.0), 4)
                self.sim.place(self.rng.choice(self.rivals), sid, price, pl)

    def _beat(self, server: dict[str, Any], bid: dict[str, Any], pl: int) -> float:
        """The price at power `pl` that ties `bid`'s score."""
        clore_price = self.sim.clore_price
        return bid_score(bid, server, clore_price) + energy(pl, server["energy_price"],
                                                            clore_price)
