"""An outbid alert overtakes every match alert not yet handed to Telegram, in every chat.

The sender runs in the background as in production; thousands of match alerts for hundreds
of users are queued and flowing when a real cycle commits an outbid alert for Alice. No
timing is asserted: only the order in which the sender hands messages to Telegram after
that cycle's kick. (Not the order in which they arrive: calls out at the same time may
arrive in any order, and the outbid alert first makes its buttons in a write transaction,
which may wait for the cycle's own writes after the kick while match alerts already handed
over arrive.)
"""

from __future__ import annotations

from bot.db.repositories import outbox, users
from bot.send_queue import Queued
from tests.bot.conftest import ALICE, BotFactory, BotHarness
from tests.bot.test_bids import linked_and_leading, set_bids
from tests.fakes.telegram_server import RecordedRequest

OTHERS = range(3001, 3201)  # 200 users besides Alice


async def queue_match_alerts(bot: BotHarness, per_user: dict[int, int]) -> None:
    """`per_user[telegram id]` match alerts for each user, committed, then a kick."""
    async with bot.ctx.sessions() as s, s.begin():
        owners = []
        for telegram_id in per_user:
            bot.telegram.add_user(telegram_id)
            owners.append(await users.get_or_create(s, telegram_id=telegram_id,
                                                    chat_id=telegram_id))
        await outbox.enqueue_many(s, [
            outbox.NewMessage(user_id=user.id, chat_id=user.chat_id, kind="match",
                              text=f"queued match {n} for {user.telegram_id}")
            for n in range(max(per_user.values())) for user in owners
            if n < per_user[user.telegram_id]
        ])
    bot.ctx.kick_sender()


def is_match(request: RecordedRequest) -> bool:
    return str(request.params.get("text")).startswith("queued match")


async def outbid_while_flowing(
    bot_factory: BotFactory, per_user: dict[int, int]
) -> tuple[BotHarness, list[RecordedRequest], int, list[str]]:
    """Alice leads, match alerts are queued and flowing, then the rival outbids her.

    Returns the bot, the sendMessage calls from the outbid cycle's first kick up to and
    including the outbid alert, how many rows were still queued at that kick, and the kinds
    of the rows the sender handed to Telegram from that kick up to the outbid alert."""
    bot = await bot_factory()
    await bot.cycle()
    await linked_and_leading(bot)
    await bot.restart(send_in_background=True)
    await bot.cycle()
    assert bot.running is not None
    sender = bot.running.sender

    await queue_match_alerts(bot, per_user)
    await bot.telegram.await_for(
        lambda fake: len([r for r in fake.requests("sendMessage") if is_match(r)]) >= 100,
        what="match alerts flowing")
    kicks: list[tuple[int, int, int]] = []  # (request cursor, rows queued, handed) per kick
    kick = bot.ctx.kick_sender
    handed: list[str] = []  # kinds of the rows the sender hands over, in its order
    dispatch = sender._dispatch

    def traced_dispatch(row: Queued) -> None:
        handed.append(row.kind)
        dispatch(row)

    def traced_kick() -> None:
        kicks.append((bot.telegram.mark(), sender.queued(), len(handed)))
        kick()

    sender._dispatch = traced_dispatch  # type: ignore[method-assign]
    bot.ctx.kick_sender = traced_kick
    set_bids(bot, mine=15.0, rival=20.0)
    bot.clore.publish()
    report = await bot.cycle()
    assert report.outbid_alerts == 1 and kicks
    mark, waiting, at_kick = kicks[0]  # the first kick follows the commit of the alert
    outbid = await bot.telegram.await_request(
        "sendMessage", chat_id=ALICE, since=mark,
        where=lambda r: "Outbid" in str(r.params.get("text")), timeout=30)
    assert outbid.status == 200
    calls = [r for r in bot.telegram.requests("sendMessage", since=mark) if r.seq <= outbid.seq]
    after_kick = handed[at_kick:]
    return bot, calls, waiting, after_kick[: after_kick.index("outbid") + 1]


async def test_an_outbid_alert_overtakes_thousands_of_queued_match_alerts(
    bot_factory: BotFactory,
) -> None:
    _, _, waiting, handed = await outbid_while_flowing(bot_factory, dict.fromkeys(OTHERS, 10))

    assert waiting >= 1000, "the queue should still be long when the outbid alert comes"
    # After the kick, only the row being started (if any) may be handed over first.
    assert handed[-1] == "outbid" and len(handed) <= 2


async def test_an_outbid_alert_overtakes_the_users_own_queued_match_alerts(
    bot_factory: BotFactory,
) -> None:
    bot, calls, _, _ = await outbid_while_flowing(
        bot_factory, {ALICE: 400, **dict.fromkeys(OTHERS[:20], 20)})

    alice = [str(r.params["text"]) for r in calls if r.chat_id == ALICE]
    assert len(alice) <= 2  # at most the match alert in flight in her chat, then the outbid
    sent = [str(r.params["text"]) for r in bot.telegram.requests("sendMessage", chat_id=ALICE)
            if is_match(r)]
    assert sent == [f"queued match {n} for {ALICE}" for n in range(len(sent))]
    assert len(sent) < 400
