"""How long an outbid alert waits behind a big queue of match alerts: commit -> sendMessage.

Runs the real application (`bot.app.serve`, production pacing: 1 msg/s per chat, 30/s
overall) against the fake Bot API, which answers every sendMessage after `--rtt` seconds
like a far-away Telegram. It queues `--matches` match alerts for `--users` users, lets them
flow, then several times commits one outbid alert (as a cycle does: commit, then kick) and
times its arrival at the fake. The last round targets a chat that has just received a
message, so the 1 msg/s per-chat limit applies. Run from the repository root:

    .venv/bin/python -m tests.bot.measure_outbid_latency [--users 2000] [--matches 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from bot.app import Running, serve
from bot.db.models import User
from bot.db.repositories import outbox, users
from bot.telegram.delivery import Pacing
from tests.bot.conftest import OPERATOR_KEY, make_settings
from tests.fakes.clore_server import FakeClore
from tests.fakes.telegram_server import FakeTelegram, RecordedRequest

FIRST_USER = 100_000


def _is_match(request: RecordedRequest) -> bool:
    return str(request.params.get("text")).startswith("match ")


async def _queue_matches(running: Running, telegram: FakeTelegram, count: int,
                         user_count: int) -> list[User]:
    async with running.ctx.sessions() as s, s.begin():
        owners = []
        for n in range(user_count):
            telegram.add_user(FIRST_USER + n)
            owners.append(await users.get_or_create(s, telegram_id=FIRST_USER + n,
                                                    chat_id=FIRST_USER + n))
        await outbox.enqueue_many(s, [
            outbox.NewMessage(user_id=owners[n % user_count].id,
                              chat_id=owners[n % user_count].chat_id, kind="match",
                              text=f"match {n}: <b>#{n}</b> 1× RTX 4090 at 12.5 CLORE/day")
            for n in range(count)
        ])
    running.ctx.kick_sender()
    return owners


async def _one_outbid(running: Running, telegram: FakeTelegram, user: User,
                      label: str) -> tuple[float, int, int]:
    """Seconds from commit to arrival, match alerts arriving in between, rows queued."""
    text = f"⚠️ <b>Outbid</b> {label}"
    async with running.ctx.sessions() as s, s.begin():
        await outbox.enqueue(s, outbox.NewMessage(user_id=user.id, chat_id=user.chat_id,
                                                  kind="outbid", text=text))
    committed, mark = time.monotonic(), telegram.mark()
    queued = running.sender.queued()
    running.ctx.kick_sender()
    arrived = await telegram.await_request(
        "sendMessage", chat_id=user.chat_id, since=mark, timeout=60,
        where=lambda r: str(r.params.get("text")) == text)
    ahead = [r for r in telegram.requests("sendMessage", since=mark)
             if r.seq < arrived.seq and _is_match(r)]
    return arrived.at - committed, len(ahead), queued


async def measure(user_count: int, match_count: int, rtt: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram() as telegram, FakeClore(
        keys={OPERATOR_KEY: 1}, interval=0.05
    ) as clore:
        telegram.latency["sendmessage"] = rtt
        settings = make_settings(Path(tmp), telegram, clore)
        ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop, on_start=ready.set_result,
                                         clore_interval=0.05, pacing=Pacing(),
                                         poll_in_background=False))
        running = await asyncio.wait_for(ready, 30)
        await running.poller.run_once()
        owners = await _queue_matches(running, telegram, match_count, user_count)
        await telegram.await_for(
            lambda fake: len([r for r in fake.requests("sendMessage") if _is_match(r)]) >= 150,
            timeout=60, what="match alerts flowing")
        print(f"{match_count} match alerts queued for {user_count} users; Bot API answers "
              f"after {rtt * 1000:.0f} ms; pacing 1 msg/s per chat, 30/s overall")
        figures = []
        for n in range(rounds):
            user = random.Random(n).choice(owners)
            seconds, ahead, queued = await _one_outbid(running, telegram, user, f"round {n}")
            figures.append(seconds)
            print(f"outbid {n + 1}: {seconds * 1000:6.0f} ms commit -> sendMessage "
                  f"({ahead} match alerts arrived in between; {queued} rows queued)")
            await asyncio.sleep(1.0)
        last = [r for r in telegram.requests("sendMessage") if _is_match(r)][-1]
        just_served = next(u for u in owners if u.chat_id == last.chat_id)
        seconds, ahead, queued = await _one_outbid(running, telegram, just_served, "busy chat")
        print(f"outbid to a chat served a moment ago: {seconds * 1000:.0f} ms "
              f"({ahead} match alerts in between; the 1 msg/s per-chat limit applies)")
        print(f"median {statistics.median(figures) * 1000:.0f} ms, "
              f"max {max(figures) * 1000:.0f} ms over {rounds} outbid alerts")
        stop.set()
        await asyncio.wait_for(task, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--matches", type=int, default=5000)
    parser.add_argument("--rtt", type=float, default=0.1, help="seconds per sendMessage")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(measure(args.users, args.matches, args.rtt, args.rounds))


if __name__ == "__main__":
    main()
