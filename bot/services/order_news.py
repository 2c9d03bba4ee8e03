"""News about an order's life, decided by the cycle: expiry warnings, won and lost.

What is read and what is inferred (the README says the same):

- An order's start is clore's `ct` from `GET /v1/my_orders` when the wallet watch has read
  it (`bot.services.wallets`); until then, the moment the bot first saw the order in a
  snapshot. Its end is start + min(max_rental_length, 20 days) (`bot.orders.expiry`).
- "Running" is inferred: clore publishes no "running" flag. The bot takes the bid that is
  in front (leading or tied; the contract's ranking) on a machine that is online, working
  and not rented on demand as the one the host runs. It is judged when the cycle reports a
  change of the bid's standing, so a machine going offline under a bid that stays in front
  is noticed only when the bid's standing changes or the order leaves the market.
- "Won": a tracked order becomes the running one after the bot saw it not running; told
  once per order. An order first seen running (e.g. placed from a Bid button, whose
  confirmation already says "leading") is not news.
- "Lost": an order that was running leaves the market (ended, cancelled or refused); told
  once per order. An order that falls behind gets the outbid alert instead.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User
from bot.db.repositories import orderlife as repo
from bot.db.repositories import outbox, users
from bot.db.repositories import templates as templates_repo
from bot.market.matcher import Transitions
from bot.market.ranking import BidStanding
from bot.market.snapshot import Server
from bot.orders.expiry import Source
from bot.services.bids import find_bid
from bot.services.buttons import to_make_json
from bot.services.context import ServiceContext
from bot.telegram.render import orderlife as render
from bot.telegram.render import translator_for

ENDED_SLACK = timedelta(minutes=30)  # gone this close to its end: it reached its end
KEEP_GONE = timedelta(days=7)


def available(server: Server | None) -> bool:
    return (
        server is not None
        and server.online
        and server.working_properly
        and not server.on_demand_rented
    )


def _message(user: User, text: str, key: str, markup: str | None = None) -> outbox.NewMessage:
    # kind "outbid": money news goes before match alerts; the user's settings for `orders`
    # decide whether and how it is sent
    return outbox.NewMessage(
        user_id=user.id, chat_id=user.chat_id, kind="outbid", text=text, reply_markup=markup,
        dedupe_key=key, alert="orders",
    )


async def on_cycle(
    ctx: ServiceContext, s: AsyncSession, t: Transitions, now: datetime, linked: list[User]
) -> list[outbox.NewMessage]:
    """Record first sightings and running state; won and lost news. In the cycle's
    transaction. `linked`: `users.list_linked`, as the cycle read it."""
    if not t.bids and not t.gone_bids:
        return []
    by_owner: dict[int, list[User]] = defaultdict(list)
    for user in linked:
        by_owner[user.clore_user_id or 0].append(user)
    seen: dict[int, list[BidStanding]] = defaultdict(list)  # user id -> changes of their orders
    owners: dict[int, User] = {}
    for change in t.bids:
        for user in by_owner.get(change.standing.owner, []):
            seen[user.id].append(change.standing)
            owners[user.id] = user
    gone: dict[int, list[BidStanding]] = defaultdict(list)
    for standing in t.gone_bids:
        for user in by_owner.get(standing.owner, []):
            gone[user.id].append(standing)
            owners[user.id] = user
    queued: list[outbox.NewMessage] = []
    watches = await repo.watches(s, list(owners))
    lives = await repo.lives_for_orders(
        s, [st.order_id for group in (*seen.values(), *gone.values()) for st in group]
    )
    templated = await templates_repo.users_with_template(s, gone)
    fresh: list[dict[str, object]] = []
    changed: dict[tuple[int, int], repo.LifeState] = {}
    for user_id, standings in seen.items():
        user = owners[user_id]
        tr = translator_for(user)
        for st in standings:
            server = ctx.market.server(st.server_id)
            running = st.state != "outbid" and available(server)
            life = lives.get((user_id, st.order_id))
            if life is None:
                fresh.append(repo.new_life(
                    user_id=user_id, order_id=st.order_id, server_id=st.server_id,
                    max_rental_length=server.max_rental_length if server else 0,
                    running=running, now=now, ahead=repo.warn_ahead(watches.get(user_id)),
                ))  # fmt: skip
                continue
            if running and not life.running and life.won_told_at is None:
                life.won_told_at = now
                text = render.won_alert(tr, st.order_id, st.server_id, st.price)
                queued.append(_message(user, text, f"won:{user_id}:{st.order_id}"))
                changed[user_id, st.order_id] = life
            if life.running != running:
                life.running = running
                changed[user_id, st.order_id] = life
    await repo.add_lives(s, fresh)
    for user_id, standings in gone.items():
        user = owners[user_id]
        tr = translator_for(user)
        for st in standings:
            life = lives.get((user_id, st.order_id))
            if life is None or life.gone_at is not None:
                continue
            if life.running and life.lost_told_at is None:
                life.lost_told_at = now
                ended = now >= life.ends_at - ENDED_SLACK
                text = render.lost_alert(tr, st.order_id, st.server_id, ended)
                markup = None
                if ended and _key_usable(user) and user_id in templated:  # bid again?
                    button = render.bid_again_button(tr, st.order_id, st.server_id)
                    markup = to_make_json([[button]])
                queued.append(_message(user, text, f"lost:{user_id}:{st.order_id}", markup))
            life.running = False
            life.gone_at = now
            life.warn_at = None
            changed[user_id, st.order_id] = life
    await repo.save_states(s, changed.values())
    await repo.prune_gone(s, now - KEEP_GONE)
    return queued


def _key_usable(user: User) -> bool:
    return user.api_key_encrypted is not None and user.api_key_unreadable_at is None


async def expiry_warnings(
    ctx: ServiceContext, s: AsyncSession, now: datetime
) -> list[outbox.NewMessage]:
    """Warnings that are due (`order_lives.warn_at`), each with Bid again. Every poll.
    Each due warning is marked as given whether or not it is sent: it is sent at most once."""
    due = await repo.due_warnings(s, now)
    if not due:
        return []
    await repo.mark_warned(s, now)
    people = await users.by_ids(s, {life.user_id for life in due})
    templated = await templates_repo.users_with_template(s, people)
    queued: list[outbox.NewMessage] = []
    for life in due:
        user = people.get(life.user_id)
        if user is None or not user.active or now >= life.ends_at:
            continue  # too late to warn: "lost" tells the rest
        server = ctx.market.server(life.server_id)
        if find_bid(server, life.order_id, user.clore_user_id) is None:
            continue
        can_bid = _key_usable(user) and user.id in templated
        source: Source = "created" if life.created_at is not None else "first_seen"
        rendered = render.expiry_alert(
            translator_for(user), life.order_id, life.server_id, life.ends_at,
            life.ends_at - now, source, can_bid,
        )  # fmt: skip
        markup = to_make_json(rendered.keyboard) if rendered.keyboard else None
        queued.append(
            _message(user, rendered.text, f"expiry:{user.id}:{life.order_id}", markup)
        )
    return queued
