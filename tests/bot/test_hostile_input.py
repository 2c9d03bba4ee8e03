"""Every command answers every input, hostile or not, in messages that fit, without a
traceback, without touching anyone else's data and without spending money."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, BOB, BOB_CLORE, BotHarness
from tests.fakes.clore_server import make_bid, make_server

SERVER, ALICE_ORDER, BOB_ORDER = "300", 9001, 9002
SECRET = "hunter2-env-value"
LONG = 4000  # Telegram takes at most 4096 characters per message, command included

# The same hostile words for every command that takes arguments.
HOSTILE = [
    "",
    "\n\n\n",
    "9" * LONG,
    "18446744073709551617",
    "1e309",
    "-1",
    "0",
    "nan",
    "-inf",
    "²",
    "١٢٣",
    "0x10",
    "<b>bold</b>",
    "<script>&amp;&lt;",
    "\x00\x01\x1b[31m\x7f",
    "\u202e\u200b\ufeff",
    "🚀🚀🚀",
    "'",
    '"unclosed',
    "x" * LONG,
    "<" * LONG,
    "= = =",
    "999999999",
]
# Commands without arguments only need to ignore them.
IGNORED = ["", "x" * LONG, "<b>bold</b>", "\x00\x01"]
NO_ARGUMENTS = {"rules", "bids", "history", "unlink", "start", "pause", "resume", "help"}


def arguments(command: str, bob_rule: int) -> list[str]:
    """The hostile table, plus what this command takes, misused."""
    own = {
        "unwatch": [str(bob_rule), f"{bob_rule} {bob_rule}", "1 2"],
        "protect": [f"{BOB_ORDER} 20", f"{ALICE_ORDER} nan", f"{ALICE_ORDER} 1e309",
                    f"{ALICE_ORDER} -5", f"{ALICE_ORDER} 5 0", f"{ALICE_ORDER} 5 ²",
                    f"{ALICE_ORDER} 5 {'9' * 400}", f"{ALICE_ORDER} cap=5 per_hour=1e9",
                    f"²{ALICE_ORDER} 5", f"{ALICE_ORDER} {'x' * LONG}"],
        "unprotect": [str(BOB_ORDER), str(ALICE_ORDER), f"{ALICE_ORDER} {ALICE_ORDER}"],
        "budget": ["20 30", "-5", "1e999", "x" * LONG],
        "settings": ["step nan", "step inf", "step -1", "step 0", "step 1e309", "step ²",
                     "cap -1", "cap 1e308", "cap ١٢٣", "step", "cap", "colour red",
                     "step 1 2", "cap " + "9" * LONG],
        "template": [f"image=ubuntu pl={'9' * LONG}", "image=ubuntu pl=²",
                     f"image=ubuntu core_lock={'1' * LONG}", "image=" + "<b>" * 1300,
                     "image=ubuntu env=" + ",".join(f"K{i}:v" for i in range(800)),
                     f"image=ubuntu env=PASS:my {SECRET}", f'image=ubuntu env=PASS:"{SECRET}',
                     f"image=ubuntu env=PASS:{SECRET},,B:1", f"image=ubuntu envs=PASS:{SECRET}",
                     "pl=min", "image=ubuntu\x00", "image=ubuntu currency=" + "é" * 70],
        "market": ["gpu=" + "x" * 600, 'gpu="' + "&" * 400 + '"', "price<nan",
                   "price<1e309", "gpus>=" + "9" * 400, "server=" + "9" * 40, "cc=<b>"],
        "watch": ["gpu=" + "x" * 600, "price<nan", "gpus>=" + "9" * 400, "rel>=inf"],
        "link": ["x" * 300, "key with spaces", "<b>key</b>", "\x00"],
    }.get(command, [])
    return IGNORED if command in NO_ARGUMENTS else HOSTILE + own


COMMANDS = ["template", "link", "protect", "unprotect", "budget", "settings", "unwatch",
            "market", "watch", "rules", "bids", "history", "unlink", "start", "pause",
            "resume", "help"]


async def misuse(bot: BotHarness, user: int, command: str, bob_rule: int) -> list[str]:
    """Send every argument in turn; returns what got no answer or a refused one."""
    await bot.ask(user, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(user, "/template image=ubuntu pl=min", expect="Template saved")
    problems = []
    for argument in arguments(command, bob_rule):
        text = f"/{command} {argument}"[:4096]
        mark = bot.telegram.mark()
        try:
            await bot.ask(user, text)
        except TimeoutError:
            problems.append(f"/{command} {argument[:40]!r}: no answer")
            continue
        problems += [
            f"/{command} {argument[:40]!r}: {r.method} {r.description}"
            for r in bot.telegram.requests(chat_id=user, since=mark)
            if r.status not in (None, 200) and r.method.lower() != "deletemessage"
        ]
    return problems


async def test_every_hostile_input_gets_one_answer(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(
            min_bid=5.0,
            bids=[make_bid(ALICE_CLORE, ALICE_ORDER, 10.0), make_bid(BOB_CLORE, BOB_ORDER, 12.0)],
        )
    await bot.publish_and_cycle()
    await bot.ask(BOB, "/watch gpu=4090", expect="saved")
    (bob_rule,) = [rule.id for rule in await bot.rules_of(BOB)]
    # One user per command, all at once: every user is linked to Alice's clore account.
    users = {command: ALICE + 1000 + number for number, command in enumerate(COMMANDS)}

    found = await asyncio.gather(
        *(misuse(bot, user, command, bob_rule) for command, user in users.items())
    )

    assert [problem for problems in found for problem in problems] == []
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert logged == []
    # Nobody else's data moved, no money was spent, no secret was repeated.
    assert [rule.id for rule in await bot.rules_of(BOB)] == [bob_rule]
    for endpoint in ("create_gigaspot_orders", "edit_gigaspot_orders", "cancel_orders"):
        assert bot.clore.calls_for(endpoint) == []
    sent = [str(r.params.get("text", "")) for r in bot.telegram.requests()]
    assert not any(SECRET in text for text in sent)
    assert SECRET not in caplog.text


async def test_every_hostile_button_gets_an_answer(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    listing = await bot.ask(ALICE, "/rules")
    hostile = ["", "a:", "a:" + "x" * 22, "a:" + "x" * 23, "a:💥💥💥", "a:\x00\x01",
               "a:<b>", "a:' OR 1=1 --", "b:" + "A" * 22, "x" * 64, "a:%s%s%n"]

    answers = [await bot.tap_data(ALICE, listing.message_id, data) for data in hostile]

    assert all("not valid" in answer for answer in answers), answers
    assert [rule.paused for rule in await bot.rules_of(ALICE)] == [False]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
