"""One poll cycle: new snapshot -> matcher transitions -> what is news -> outbox rows.

Everything a cycle decides (alert state and the messages it queues) is written in one
transaction while the market lock is held, so a crash or restart can neither repeat nor
drop an alert: after a restart the matcher reports every match as new again, and the
stored alert state filters out what the user has already been told.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.clore.fetcher import PollResult
from bot.db.models import User
from bot.db.repositories import alerts, outbox, state, users
from bot.db.repositories import rules as rules_repo
from bot.db.repositories.rules import ActiveRule
from bot.market.matcher import Transitions
from bot.market.ranking import BidStanding
from bot.services import alert_policy, orders, protection
from bot.services.bids import bid_keyboard, find_bid
from bot.services.buttons import markup_json
from bot.services.context import ServiceContext

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CycleReport:
    applied: bool = False
    match_alerts: int = 0  # (rule, server) pairs announced
    outbid_alerts: int = 0
    automatic_raises: int = 0  # edits made by outbid protection (any outcome)
    status_messages: int = 0
    order_messages: int = 0  # pending orders found in the market, or given up on
    errors: list[str] = field(default_factory=list)


class Cycle:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._reconciled = False  # stored "matching" rows checked against a fresh matcher
        self._protect: list[protection.Candidate] = []  # collected in the transaction

    async def run(self, poll: PollResult) -> CycleReport:
        report = CycleReport()
        if poll.error:
            report.errors.append(poll.error)
        if poll.is_new and poll.snapshot is not None:
            market = self.ctx.market
            async with market.lock:
                transitions = await market.apply(poll.snapshot, poll.clore_price, poll.snapshot_url)
                async with self.ctx.sessions() as s, s.begin():
                    await self._record(s, transitions, poll.snapshot_url or "", report)
                    if not self._reconciled:
                        await self._reconcile(s)
            self._reconciled = True
            report.applied = True
            # Edits spend money over the network: after the commit, outside the lock.
            candidates, self._protect = self._protect, []
            await self._protect_bids(candidates, poll.snapshot_url or "", report)
        async with self.ctx.sessions() as s, s.begin():
            report.status_messages = await self._stale_status(s, poll)
        if (
            report.match_alerts
            or report.outbid_alerts
            or report.status_messages
            or report.order_messages
            or report.automatic_raises
        ):
            self.ctx.kick_sender()
        return report

    async def _record(
        self, s: AsyncSession, transitions: Transitions, url: str, report: CycleReport
    ) -> None:
        rules = {r.rule_id: r for r in await rules_repo.active_rules(s)}
        report.match_alerts = await self._matches(s, transitions, rules, url)
        report.outbid_alerts = await self._bids(s, transitions, url)
        report.order_messages = await orders.confirm_pending(self.ctx, s)

    async def _matches(
        self, s: AsyncSession, t: Transitions, rules: dict[int, ActiveRule], url: str
    ) -> int:
        now = self.ctx.clock()
        settings = self.ctx.settings
        matching = [(m.rule_id, m.server_id, m.price_to_win) for m in t.started]
        matching += [(r.rule_id, r.server_id, r.new) for r in t.repriced]
        stopped = [(m.rule_id, m.server_id, m.price_to_win) for m in t.stopped]
        pairs = [(rid, sid) for rid, sid, _ in matching + stopped if rid in rules]
        known = await alerts.match_states_for_pairs(s, pairs)
        changes: list[alerts.MatchState] = []
        news: dict[int, list[messages.MatchItem]] = defaultdict(list)
        for rule_id, server_id, price in matching:
            rule = rules.get(rule_id)
            if rule is None:
                continue
            new, announce = alert_policy.on_match(
                known.get((rule_id, server_id)),
                rule_id,
                server_id,
                price,
                now,
                realert_after=timedelta(seconds=settings.realert_after_seconds),
                price_drop=settings.realert_price_drop,
                muted=rule.alerts_paused,
            )
            changes.append(new)
            server = self.ctx.market.server(server_id)
            if announce and server is not None:
                news[rule.user_id].append(
                    messages.MatchItem(rule_id, rule.text, server_id, server, price)
                )
        for rule_id, server_id, price in stopped:
            stopped_state = alert_policy.on_stop(known.get((rule_id, server_id)), price, now)
            if stopped_state is not None and rule_id in rules:
                changes.append(stopped_state)
        await alerts.upsert_match_states(s, changes)
        chats = {r.user_id: r.chat_id for r in rules.values()}
        rows = []
        for user_id, items in news.items():
            user = await users.get(s, user_id)
            keyboard = await orders.match_keyboard(self.ctx, s, user, items) if user else None
            rows.append(
                outbox.NewMessage(
                    user_id=user_id,
                    chat_id=chats[user_id],
                    kind="match",
                    text=messages.match_alert(items, settings.max_matches_per_message),
                    reply_markup=markup_json(keyboard),
                    dedupe_key=f"match:{user_id}:{url}",
                )
            )
        await outbox.enqueue_many(s, rows)
        return sum(len(items) for items in news.values())

    async def _bids(self, s: AsyncSession, t: Transitions, url: str) -> int:
        if not t.bids and not t.gone_bids:
            return 0
        by_owner: dict[int, list[User]] = defaultdict(list)
        for user in await users.list_linked(s):
            by_owner[user.clore_user_id or 0].append(user)
        known = await alerts.bid_states_for_users(
            s, [u.id for group in by_owner.values() for u in group]
        )
        protected = await protection.protected_orders(s)
        changes: list[alerts.BidState] = []
        sent = 0
        for change in t.bids:
            standing = change.standing
            for user in by_owner.get(standing.owner, []):
                settings = protected.get((user.id, standing.order_id))
                new, alert = alert_policy.on_bid(
                    known.get((user.id, standing.order_id)),
                    user.id,
                    standing,
                    # Muting silences alerts, not the protection the user asked for.
                    muted=user.alerts_paused and settings is None,
                )
                changes.append(new)
                if alert and settings is not None:
                    self._protect.append(protection.Candidate(user, standing, settings))
                elif alert and await self._outbid_alert(s, user, standing, url):
                    sent += 1
        await alerts.upsert_bid_states(s, changes)
        gone = [
            (user.id, standing.order_id)
            for standing in t.gone_bids
            for user in by_owner.get(standing.owner, [])
        ]
        await alerts.delete_bid_states(s, gone)
        return sent

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
                elif await self._outbid_alert(
                    s, candidate.user, candidate.standing, url, protection.why_not(attempt)
                ):
                    report.outbid_alerts += 1

    async def _raised_message(self, s: AsyncSession, attempt: protection.Attempt, url: str) -> None:
        user, st = attempt.candidate.user, attempt.candidate.standing
        price = attempt.decision.price  # type: ignore[union-attr]
        await outbox.enqueue(
            s,
            outbox.NewMessage(
                user_id=user.id,
                chat_id=user.chat_id,
                kind="action",
                text=messages.auto_raised(st.order_id, st.server_id, price, st.top_price),
                dedupe_key=f"autoraise:{user.id}:{st.order_id}:{url}",
            ),
        )

    async def _outbid_alert(
        self, s: AsyncSession, user: User, standing: BidStanding, url: str, note: str = ""
    ) -> bool:
        server = self.ctx.market.server(standing.server_id)
        if find_bid(server, standing.order_id, standing.owner) is None:
            return False
        step = user.raise_step or self.ctx.settings.default_raise_step
        raise_to = standing.lead_price + step
        keyboard = await bid_keyboard(self.ctx, s, user.id, standing, raise_to)
        await outbox.enqueue(
            s,
            outbox.NewMessage(
                user_id=user.id,
                chat_id=user.chat_id,
                kind="outbid",
                text=messages.outbid_alert(standing, server, raise_to)
                + (f"\n{note}" if note else ""),
                reply_markup=markup_json(keyboard),
                dedupe_key=f"outbid:{user.id}:{standing.order_id}:{url}",
            ),
        )
        return True

    async def _reconcile(self, s: AsyncSession) -> None:
        """After a start, stored 'matching' pairs that no longer match are marked stopped."""
        now = self.ctx.clock()
        rule_ids = [r.rule_id for r in await rules_repo.active_rules(s)]
        stale = [
            alert_policy.on_stop(st, st.last_price, now)
            for st in (await alerts.match_states_for_rules(s, rule_ids)).values()
            if st.matching and st.server_id not in self.ctx.market.matcher.matches(st.rule_id)
        ]
        await alerts.upsert_match_states(s, [st for st in stale if st is not None])

    async def _stale_status(self, s: AsyncSession, poll: PollResult) -> int:
        """Tell users once when the market data goes stale, and once when it recovers."""
        announced = await state.get_value(s, state.STALE_ANNOUNCED)
        if poll.stale == (announced is not None):
            return 0
        now = self.ctx.clock()
        if poll.stale:
            await state.set_value(s, state.STALE_ANNOUNCED, now.isoformat(), now=now)
            text = messages.stale_notice(poll.age_seconds, poll.error)
            key = f"stale:{now.isoformat()}"
        else:
            await state.delete_value(s, state.STALE_ANNOUNCED)
            text = messages.recovered_notice()
            key = f"recovered:{announced}"
        recipients = await _interested_users(s)
        await outbox.enqueue_many(
            s,
            [
                outbox.NewMessage(
                    user_id=uid,
                    chat_id=chat,
                    kind="status",
                    text=text,
                    dedupe_key=f"{key}:{uid}",
                )
                for uid, chat in recipients.items()
            ],
        )
        return len(recipients)


async def _interested_users(s: AsyncSession) -> dict[int, int]:
    """Users with unpaused alerts who have a rule or a linked account: user id -> chat."""
    found = {r.user_id: r.chat_id for r in await rules_repo.active_rules(s) if not r.alerts_paused}
    found.update({u.id: u.chat_id for u in await users.list_linked(s) if not u.alerts_paused})
    return found
