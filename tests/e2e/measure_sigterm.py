"""How fast `gigaspot-bot run` stops on SIGTERM in the middle of a big cycle, and whether what
it committed stays consistent. Not a test (it takes minutes); run from the repository root:

    .venv/bin/python -m tests.e2e.measure_sigterm [--servers 10000] [--rules 10000]

Each round starts the real process on a fresh database seeded with `--rules` broad rules of
`--users` users (the bench's generator), serving one generated snapshot from the fake clore,
sends SIGTERM `delay` seconds after the process downloaded the snapshot (delays spread over
the whole first cycle), and times the exit. Then it starts the process again on the same
database, lets it poll the same snapshot, stops it, and checks that every user with a
match got exactly one match alert: none lost to the cut, none repeated after the restart.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from bot.bench import BROAD, generate_rules, generated_snapshot
from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.models import Rule, User
from bot.market.rules import format_rule, parse_rule
from tests.e2e.bot_process import OPERATOR_KEY, BotProcess
from tests.fakes.clore_server import SNAPSHOT, FakeClore
from tests.fakes.telegram_server import FakeTelegram

FIRST_CHAT = 50_000
POLL = "get_gigaspot"


async def _seed(url: str, rules: list[str], n_users: int) -> None:
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s, s.begin():
            await s.execute(insert(User), [
                {"id": n + 1, "telegram_id": FIRST_CHAT + n, "chat_id": FIRST_CHAT + n,
                 "alerts_paused": False, "active": True}
                for n in range(n_users)
            ])  # fmt: skip
            await s.execute(insert(Rule), [
                {"user_id": n % n_users + 1, "number": n // n_users + 1,
                 "text": format_rule(parse_rule(text)), "paused": False}
                for n, text in enumerate(rules)
            ])  # fmt: skip
    finally:
        await engine.dispose()


def _wait_for_calls(clore: FakeClore, endpoint: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(clore.calls_for(endpoint)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot did not call {endpoint} {count} times")
        time.sleep(0.005)


def _stop(bot: BotProcess) -> tuple[float, int | None]:
    assert bot.process is not None
    start = time.monotonic()
    bot.process.send_signal(signal.SIGTERM)
    try:
        code: int | None = bot.process.wait(timeout=60)
    except Exception:
        bot.process.kill()
        bot.process.wait()
        code = None
    return time.monotonic() - start, code


def _match_alerts(db: Path) -> dict[int, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute(
            "SELECT user_id, count(*) FROM outbox WHERE kind = 'match' GROUP BY user_id"
        ).fetchall())  # fmt: skip


def round_(data: bytes, rules: list[str], users: int, delay: float) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram() as telegram, FakeClore(
        keys={OPERATOR_KEY: 1}, interval=0.05
    ) as clore:
        work = Path(tmp)
        (work / "data").mkdir()
        db = work / "data" / "bot.db"
        asyncio.run(_seed(f"sqlite+aiosqlite:///{db}", rules, users))
        clore.publish(raw=data)
        env = {"POLL_INTERVAL_SECONDS": "2"}
        bot = BotProcess(work, telegram, clore, **env).start()
        try:
            _wait_for_calls(clore, SNAPSHOT, 1)
            time.sleep(delay)
            seconds, code = _stop(bot)
        except TimeoutError:
            print(bot.log()[-3000:])
            raise
        finally:
            bot.stop()  # never leave a process behind (a no-op once it has exited)
        cut = _match_alerts(db)
        again = BotProcess(work, telegram, clore, **env).start()
        try:
            # a poll after the restart's first one: that first cycle has finished
            _wait_for_calls(clore, POLL, len(clore.calls_for(POLL)) + 2)
        finally:
            _stop(again)
        after = _match_alerts(db)
        repeated = sum(1 for count in after.values() if count > 1)
        verdict = (
            f"exit code {code}; {sum(cut.values())} match alerts committed before the cut, "
            f"{sum(after.values())} after the restart for {len(after)} users, "
            f"{repeated} users with more than one"
        )
        return seconds, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--delays", default="0,0.3,0.6,1,1.5,2,3,5")
    args = parser.parse_args()
    data = generated_snapshot(args.servers, 1)
    rules = generate_rules(args.rules, 1, BROAD)
    worst = 0.0
    for delay in (float(d) for d in args.delays.split(",")):
        seconds, verdict = round_(data, rules, args.users, delay)
        worst = max(worst, seconds)
        print(f"SIGTERM {delay:.1f} s after the download: stopped in {seconds:.2f} s; {verdict}",
              flush=True)
    print(f"slowest stop: {worst:.2f} s")


if __name__ == "__main__":
    main()
