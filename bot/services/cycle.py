"""One poll cycle: new snapshot -> matcher transitions -> what is news -> outbox rows.

What a cycle decides (the alert memory change, the messages it queues, the snapshot it
applied as the new baseline) is committed in one transaction while the market lock is held;
the in-memory alert memory takes the change only after the commit. A cycle that cannot
commit puts the matcher back on the last committed snapshot, so the next cycle announces
what this one would have. See `bot.services.alert_state` for restarts.

The work grows with the transitions, not the matches: decisions are numpy over the
transitions' columns, and Python objects are built only for the machines a message lists.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clore.fetcher import PollResult
from bot.db import alert_codec
from bot.db.models import User
from bot.db.repositories import actions, alerts, outbox, pending_orders, state
from bot.db.repositories import alert_memory as memory_records
from bot.db.repositories import held_matches as held_repo
from bot.db.repositories import orderlife as orderlife_repo
from bot.db.repositories.rules import ActiveRule
from bot.i18n import translator
from bot.market.alert_memory import MemoryChange, member
from bot.market.listing import listing
from bot.market.matcher import Pairs, Transitions
from bot.market.ranking import BidStanding
from bot.market.snapshot import Server, Snapshot
from bot.orders import power
from bot.orders.protection import Raise
from bot.services import (
    alert_control,
    alert_policy,
    alert_prefs,
    alert_state,
    digest,
    order_news,
    order_taps,
    orders,
    protection,
)
from bot.services import events as ev
from bot.services.alert_prefs import AlertPrefs
from bot.services.bids import find_bid, make_action, make_keyboard
from bot.services.buttons import ButtonToMake, markup_json, to_make_json
from bot.services.context import ServiceContext
from bot.services.payloads import as_dict
from bot.telegram.render import orderlife as orderlife_render
from bot.telegram.render.alerts import CardCache, match_alert, notice
from bot.telegram.render.bids import bid_label
from bot.telegram.render.renter import stop_protecting_button

log = logging.getLogger(__name__)


class SnapshotNotApplied(Exception):
    """The cycle could not commit a new snapshot; the matcher is back on the last commit."""


@dataclass(slots=True)
class CycleReport:
    applied: bool = False
    match_alerts: int = 0  # machines announced (per user: a machine counts once)
    outbid_alerts: int = 0
    automatic_raises: int = 0  # edits made by outbid protection (any outcome)
    status_messages: int = 0
    order_messages: int = 0  # pending orders found in the market, or given up on
    digests: int = 0  # match alerts held for quiet hours, sent now that they ended
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UserAlert:
    """One user's match alert of one cycle: the machines it lists, and how many in all."""

    user_id: int
    items: list[ev.MatchItem]
    total: int


class RuleView:
    """The active rules as arrays: rule id -> owner (user), muted or not."""

    def __init__(self, rules: list[ActiveRule], now: datetime | None = None) -> None:
        self.source = rules
        self.rules = {r.rule_id: r for r in rules}
        ids = np.fromiter(self.rules, dtype=np.int64, count=len(self.rules))
        users = np.fromiter((r.user_id for r in self.rules.values()), np.int64, len(ids))
        # muting is the owner's setting: decided once per user, not once per rule
        self.owners: dict[int, ActiveRule] = {}
        for r in self.rules.values():
            self.owners.setdefault(r.user_id, r)
        order = np.argsort(ids, kind="stable")  # rules come by id: already in order
        self.ids, self.users = ids[order], users[order]
        self.muted = self._muted(now or datetime.now(UTC))

    def at(self, now: datetime) -> RuleView:
        """The same rules, muted as of `now` (a cycle whose rules were not read again)."""
        view = copy.copy(self)
        view.muted = self._muted(now)
        return view

    def _muted(self, now: datetime) -> np.ndarray:
        users = [user_id for user_id, r in self.owners.items() if r.match_muted(now)]
        muted: np.ndarray = self.ids[member(self.users, np.array(users, dtype=np.int64))]
        return muted

    def users_of(self, rule_ids: np.ndarray) -> np.ndarray:
        """The owner of each rule id, -1 for rules that are not active."""
        if not self.ids.size or not rule_ids.size:
            return np.full(rule_ids.size, -1, dtype=np.int64)
        top = int(self.ids[-1])
        if top <= 1 << 24 and rule_ids.min() >= 0:  # rule ids are small: a lookup table
            table = np.full(max(top, int(rule_ids.max())) + 1, -1, dtype=np.int64)
            table[self.ids] = self.users
            owners: np.ndarray = table[rule_ids]
            return owners
        at = np.searchsorted(self.ids, rule_ids)
        inside = at < self.ids.size
        inside[inside] = self.ids[at[inside]] == rule_ids[inside]
        return np.where(inside, self.users[np.minimum(at, self.ids.size - 1)], -1)


def user_alerts(
    announce: Pairs,
    view: RuleView,
    snapshot: Snapshot,
    limit: int,
    versus: Callable[[Server, float], float | None] = lambda server, price: None,
) -> list[UserAlert]:
    """Per user, the cheapest `limit` distinct machines among the announced pairs (a
    machine several of the user's rules match is listed once, under the lowest rule id)."""
    users_of = view.users_of(announce.rule_ids)
    mine = users_of >= 0
    if not mine.any():
        return []
    pairs, owners = announce, users_of
    if not mine.all():
        pairs, owners = announce.take(np.flatnonzero(mine)), users_of[mine]
    listed = listing(pairs, owners, limit)
    shown, shown_owners = pairs.take(listed.listed), listed.listed_users
    found: dict[int, list[ev.MatchItem]] = defaultdict(list)
    for user_id, rule_id, server_id, price in zip(
        shown_owners.tolist(), shown.rule_ids.tolist(), shown.server_ids(),
        shown.prices.tolist(), strict=True,
    ):  # fmt: skip
        rule = view.rules[rule_id]
        server = snapshot.servers[server_id]
        found[user_id].append(
            ev.MatchItem(
                rule_id, rule.text, server_id, server, price,
                versus_median=versus(server, price), number=rule.number,
            )
        )
    totals = dict(zip(listed.users.tolist(), listed.totals.tolist(), strict=True))
    return [UserAlert(user_id, items, totals[user_id]) for user_id, items in found.items()]


class Cycle:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._protect: list[protection.Candidate] = []  # collected in the transaction
        self._view: RuleView | None = None  # the last cycle's, while its rules still hold

    async def run(self, poll: PollResult) -> CycleReport:
        report = CycleReport()
        if poll.error:
            report.errors.append(poll.error)
        market = self.ctx.market
        if poll.is_new and poll.snapshot is not None:
            # A failure here puts the matcher back on the last commit; the poller then hands
            # the snapshot back to the fetcher, which downloads it again next time.
            async with market.lock:
                try:
                    await self._apply(poll, report)
                except Exception as exc:
                    raise SnapshotNotApplied(f"{type(exc).__name__}: {exc}") from exc
            if report.match_alerts or report.outbid_alerts or report.order_messages:
                self.ctx.kick_sender()  # now, not after the automatic raises below
            report.applied = True
            # Edits spend money over the network: after the commit, outside the lock.
            candidates, self._protect = self._protect, []
            await self._protect_bids(candidates, poll.snapshot_url or "", report)
            await self.ctx.history.record(self.ctx)  # its own short transaction
        elif poll.info is not None and poll.snapshot is not None and (
            poll.snapshot is market.snapshot
        ):  # the baseline restored at start is still the latest snapshot
            market.ready = True
        # Market status and orders near their end are checked at every poll: a read first,
        # a write transaction only when there is something to write.
        now = self.ctx.clock()
        async with self.ctx.reads() as s:
            stale_news = await _stale_news(s, poll)
            due = market.ready and await orderlife_repo.any_due(s, now)
        if stale_news or due:
            async with self.ctx.sessions() as s, s.begin():
                report.status_messages = await self._stale_status(s, poll)
                if market.ready:
                    warnings = await order_news.expiry_warnings(self.ctx, s, now)
                    await outbox.enqueue_many(s, warnings, decided_at=now)
                    report.order_messages += len(warnings)
        if market.ready:
            report.digests = await digest.send_due(self.ctx)
        if (
            report.match_alerts
            or report.outbid_alerts
            or report.status_messages
            or report.order_messages
            or report.automatic_raises
            or report.digests
        ):
            self.ctx.kick_sender()
        return report

    async def _apply(self, poll: PollResult, report: CycleReport) -> None:
        """Caller holds the market lock."""
        assert poll.snapshot is not None
        market = self.ctx.market
        before = (market.snapshot, market.clore_price, market.snapshot_url)
        # New bytes: the rules are read while the matcher works (in its thread).
        reading = (
            asyncio.create_task(self._read_rules(self.ctx.clock()))
            if poll.snapshot is not before[0]
            else None
        )
        try:
            transitions = await market.apply(poll.snapshot, poll.clore_price, poll.snapshot_url)
        except BaseException:
            if reading is not None:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
            raise
        if poll.snapshot is before[0] and not _has_news(transitions):
            # The same bytes again (a new URL): nothing to announce or to remember.
            async with self.ctx.reads() as s:
                pending = await pending_orders.any_unresolved(s)
            if pending:
                async with self.ctx.sessions() as s, s.begin():
                    report.order_messages = await orders.confirm_pending(self.ctx, s)
            market.ready = True
            return
        try:
            await self._commit(poll, transitions, before[0], report, reading)
        except Exception:
            self._protect = []
            await market.revert(*before)
            raise
        market.ready = True

    async def _commit(
        self,
        poll: PollResult,
        transitions: Transitions,
        previous: Snapshot | None,
        report: CycleReport,
        reading: asyncio.Task[tuple[RuleView, dict[int, User]]] | None = None,
    ) -> None:
        ctx, market = self.ctx, self.ctx.market
        snapshot = poll.snapshot
        assert snapshot is not None
        now = ctx.clock()
        view, bidders = await (reading or self._read_rules(now))
        if not (len(transitions.started) or len(transitions.repriced)):
            bidders = {}
        inactive = np.setdiff1d(
            np.array(sorted(market.matcher.rule_ids), dtype=np.int64), view.ids
        )
        decision = market.memory.decide(
            transitions.started,
            transitions.stopped,
            transitions.repriced,
            now.timestamp(),
            muted_rules=np.union1d(view.muted, inactive),
            realert_after=ctx.settings.realert_after_seconds,
            price_drop=ctx.settings.realert_price_drop,
        )
        alerts_ = user_alerts(
            decision.announce, view, snapshot, ctx.settings.max_matches_per_message,
            ctx.history.versus_median,
        )  # fmt: skip
        # Encoded in worker threads while the messages are written (after the listing, so
        # their memory does not add to the listing's peak); awaited before the commit.
        change_body = alert_state.encoding(decision.change, market.matcher)
        baseline_body = (
            asyncio.get_running_loop().run_in_executor(
                None, alert_codec.compress_snapshot, snapshot.source
            )
            if snapshot is not previous
            else None
        )
        try:
            record_id = await self._write(
                poll, transitions, report, view, bidders, alerts_, decision.change, change_body,
                baseline_body, now,
            )  # fmt: skip
        finally:  # on a failure too: the threads are done before the cycle is reverted
            await asyncio.gather(
                *(f for f in (change_body, baseline_body) if f is not None), return_exceptions=True
            )
        market.memory.apply(decision.change)
        market.applied_own(record_id)
        report.match_alerts = sum(alert.total for alert in alerts_)

    async def _write(
        self,
        poll: PollResult,
        transitions: Transitions,
        report: CycleReport,
        view: RuleView,
        bidders: dict[int, User],
        alerts_: list[UserAlert],
        change: MemoryChange,
        change_body: asyncio.Future[bytes],
        baseline_body: asyncio.Future[bytes] | None,
        now: datetime,
    ) -> int | None:
        """The cycle's one write transaction: messages, memory change record (its id is
        returned), baseline."""
        ctx = self.ctx
        url = poll.snapshot_url or ""
        owners = {r.user_id: r for r in view.rules.values()}
        cards: CardCache = {}
        limit = ctx.settings.max_matches_per_message
        prefs: dict[int, AlertPrefs] = {}
        if alerts_:
            async with ctx.reads() as s:
                prefs = await ctx.watch_reads.prefs(s, [a.user_id for a in alerts_])
        async with ctx.sessions() as s, s.begin(), actions.batch(s):
            rows = []
            for alert in alerts_:
                if alert_prefs.route(
                    prefs.get(alert.user_id, AlertPrefs()), "match", now
                ) == "hold":  # quiet hours: into the digest sent when they end
                    await held_repo.hold(s, alert.user_id, [
                        (item.rule_id, item.server_id, item.price_to_win) for item in alert.items
                    ], now)  # fmt: skip
                    continue
                owner = owners[alert.user_id]
                tr = translator(owner.language)
                user = bidders.get(alert.user_id)
                offers = await orders.bid_offers(ctx, s, user, alert.items) if user else None
                keyboard = [
                    [(bid_label(tr, o.server_id, o.price),
                      await make_action(ctx, s, alert.user_id, "bid", **as_dict(o)))]
                    for o in offers or ()
                ]  # fmt: skip
                mute = alert_control.mute_buttons(tr, alert.items, more=alert.total > limit)
                if keyboard:  # Bid buttons are made now: make the mute buttons with them
                    keyboard += await make_keyboard(ctx, s, alert.user_id, mute)
                rows.append(
                    outbox.NewMessage(
                        user_id=alert.user_id,
                        chat_id=owner.chat_id,
                        kind="match",
                        text=match_alert(tr, ev.MatchAlert(alert.items, limit, alert.total), cards),
                        reply_markup=markup_json(keyboard) if keyboard else to_make_json(mute),
                        dedupe_key=f"match:{alert.user_id}:{url}",
                        alert="match",
                    )
                )
            await outbox.enqueue_many(s, rows, decided_at=now, prefs=prefs)
            # the users whose bids are tracked: read once for both (thousands of rows)
            linked = await ctx.watch_reads.linked(s) if _has_bid_news(transitions) else []
            report.outbid_alerts = await self._bids(s, transitions, url, linked)
            news = await order_news.on_cycle(ctx, s, transitions, now, linked)
            news_prefs = await ctx.watch_reads.prefs(s, [m.user_id for m in news])
            await outbox.enqueue_many(s, news, decided_at=now, prefs=news_prefs)
            report.order_messages = len(news) + await orders.confirm_pending(ctx, s)
            record_id = await alert_state.record_change(ctx, s, change, await change_body)
            if baseline_body is not None:
                await memory_records.save_baseline(
                    s, url, poll.clore_price, await baseline_body, now
                )
        return record_id

    async def _read_rules(self, now: datetime) -> tuple[RuleView, dict[int, User]]:
        """The active rules (muted as of `now`: when the read starts, before the matcher's
        work) and the users who can bid from an alert."""
        async with self.ctx.reads() as s:
            rules, bidders = await self.ctx.watch_reads.read(s)
        last = self._view
        view = last.at(now) if last is not None and last.source is rules else RuleView(rules, now)
        self._view = view
        return view, bidders

    async def _bids(self, s: AsyncSession, t: Transitions, url: str, linked: list[User]) -> int:
        if not _has_bid_news(t):
            return 0
        by_owner: dict[int, list[User]] = defaultdict(list)
        for user in linked:
            by_owner[user.clore_user_id or 0].append(user)
        known = await alerts.bid_states_for_orders(
            s, [c.standing.order_id for c in t.bids if c.standing.owner in by_owner]
        )
        protected = await protection.protected_orders(s)
        prefs = await self.ctx.watch_reads.prefs(
            s, [u.id for group in by_owner.values() for u in group]
        )
        now = self.ctx.clock()
        # Turning outbid alerts off silences them, not the protection the user asked for.
        # /pause and quiet hours never hold them back.
        silenced = {uid for uid, p in prefs.items() if p.mode("outbid") == "off"}
        changes: list[alerts.BidState] = []
        queued: list[outbox.NewMessage] = []
        for change in t.bids:
            standing = change.standing
            for user in by_owner.get(standing.owner, []):
                user_id = user.id
                settings = protected.get((user_id, standing.order_id))
                new, alert = alert_policy.on_bid(
                    known.get((user_id, standing.order_id)),
                    user_id,
                    standing,
                    muted=settings is None and user_id in silenced,
                )
                changes.append(new)
                if alert and settings is not None:
                    self._protect.append(protection.Candidate(user, standing, settings))
                elif alert and (message := await self._outbid_alert(s, user, standing, url)):
                    queued.append(message)
        await outbox.enqueue_many(s, queued, decided_at=now, prefs=prefs)
        await alerts.upsert_bid_states(s, changes, stored=known)
        await alerts.delete_bid_states(
            s, [st.order_id for st in t.gone_bids if st.owner in by_owner]
        )
        return len(queued)

    async def _protect_bids(
        self, candidates: list[protection.Candidate], url: str, report: CycleReport
    ) -> None:
        for candidate in candidates:
            attempt = await protection.attempt(self.ctx, candidate)
            if attempt is None:
                continue
            async with self.ctx.sessions() as s, s.begin():
                await protection.record(s, attempt, self.ctx.clock())
                if attempt.outcome is not None:
                    report.automatic_raises += 1
                if attempt.outcome == "ok":
                    await self._raised_message(s, attempt, url)
                elif message := await self._outbid_alert(
                    s, candidate.user, candidate.standing, url, protection.why_not(attempt)
                ):
                    await outbox.enqueue_many(s, [message], decided_at=self.ctx.clock())
                    report.outbid_alerts += 1

    async def _raised_message(self, s: AsyncSession, attempt: protection.Attempt, url: str) -> None:
        user, st = attempt.candidate.user, attempt.candidate.standing
        tr = translator(user.language)
        if isinstance(attempt.decision, order_taps.PowerCut):  # `/protect ... power`
            text = orderlife_render.auto_power(tr, st.server_id, attempt.decision.lead)
        else:
            assert isinstance(attempt.decision, Raise)
            event = ev.AutoRaised(st.order_id, st.server_id, attempt.decision.price, st.top_price)
            text = notice(tr, event).text
        await outbox.enqueue_many(
            s,
            [outbox.NewMessage(
                user_id=user.id,
                chat_id=user.chat_id,
                kind="action",
                text=text,
                reply_markup=to_make_json([[ButtonToMake(
                    stop_protecting_button(tr), "unprotect", {"order_id": st.order_id}
                )]]),
                dedupe_key=f"autoraise:{user.id}:{st.order_id}:{url}",
                alert="autoraise",
            )],
            decided_at=self.ctx.clock(),
        )  # fmt: skip

    async def _outbid_alert(
        self,
        s: AsyncSession,
        user: User,
        standing: BidStanding,
        url: str,
        held: ev.ProtectionHeld | None = None,
    ) -> outbox.NewMessage | None:
        server = self.ctx.market.server(standing.server_id)
        bid = find_bid(server, standing.order_id, standing.owner)
        if server is None or bid is None:
            return None
        step = user.raise_step or self.ctx.settings.default_raise_step
        raise_to = standing.lead_price + step
        tr = translator(user.language)
        alert = notice(tr, ev.OutbidAlert(standing, server, raise_to, held))
        # it can lead again at the same price with less power: offered with the alert
        lead = power.lead_by_power(server, bid, self.ctx.market.clore_price)
        if lead is not None:
            alert = orderlife_render.with_power_offer(tr, alert, lead, standing.server_id)
        return outbox.NewMessage(
            user_id=user.id,
            chat_id=user.chat_id,
            kind="outbid",
            text=alert.text,
            reply_markup=to_make_json(alert.keyboard or []),  # made by the sender, when it sends
            dedupe_key=f"outbid:{user.id}:{standing.order_id}:{url}",
            alert="outbid",
        )

    async def _stale_status(self, s: AsyncSession, poll: PollResult) -> int:
        """Tell users once when the market data goes stale, and once when it recovers."""
        announced = await state.get_value(s, state.STALE_ANNOUNCED)
        if not _stale_changed(poll, announced):
            return 0
        now = self.ctx.clock()
        if poll.stale:
            await state.set_value(s, state.STALE_ANNOUNCED, now.isoformat(), now=now)
            event: ev.Notice = ev.MarketStale(poll.age_seconds)
            key = f"stale:{now.isoformat()}"
        else:
            await state.delete_value(s, state.STALE_ANNOUNCED)
            event = ev.MarketFresh()
            key = f"recovered:{announced}"
        recipients = await _interested_users(self.ctx, s)
        texts: dict[str | None, str] = {}  # one rendering per language
        for _chat, language in recipients.values():
            if language not in texts:
                texts[language] = notice(translator(language), event).text
        await outbox.enqueue_many(
            s,
            [
                outbox.NewMessage(
                    user_id=uid,
                    chat_id=chat,
                    kind="status",
                    text=texts[language],
                    dedupe_key=f"{key}:{uid}",
                    alert="market",
                )
                for uid, (chat, language) in recipients.items()
            ],
            decided_at=now,
        )
        return len(recipients)


async def _interested_users(
    ctx: ServiceContext, s: AsyncSession
) -> dict[int, tuple[int, str | None]]:
    """Users who have a rule or a linked account: user id -> (chat, language). (Their
    settings for market status alerts apply when the notices are queued; /pause does not
    hold these.)"""
    active, _ = await ctx.watch_reads.read(s)
    found = {r.user_id: (r.chat_id, r.language) for r in active}
    found.update({u.id: (u.chat_id, u.language) for u in await ctx.watch_reads.linked(s)})
    return found


def _stale_changed(poll: PollResult, announced: str | None) -> bool:
    return poll.stale != (announced is not None)


async def _stale_news(s: AsyncSession, poll: PollResult) -> bool:
    """Has the market gone stale, or recovered, since users were last told?"""
    return _stale_changed(poll, await state.get_value(s, state.STALE_ANNOUNCED))


def _has_news(t: Transitions) -> bool:
    return bool(len(t.started) or len(t.stopped) or len(t.repriced) or _has_bid_news(t))


def _has_bid_news(t: Transitions) -> bool:
    return bool(t.bids or t.gone_bids)
