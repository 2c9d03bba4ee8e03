"""Inline keyboards as plain data: rows of (label, callback action id).

`callback_data` carries only `a:<action id>` (at most 24 bytes, well under Telegram's 64): what
a button does lives in the callback_actions table, never in the button.
"""

from __future__ import annotations

from typing import Any

import msgspec

Button = tuple[str, str]  # label, callback action id
Keyboard = list[list[Button]]


class ButtonToMake(msgspec.Struct, frozen=True, array_like=True):
    """A button whose action is created only when its message is sent: a cycle may queue
    thousands of alerts, and the sender makes their buttons a few at a time."""

    text: str
    kind: str
    payload: dict[str, Any]


KeyboardToMake = list[list[ButtonToMake]]


class _ToMake(msgspec.Struct, frozen=True):
    make: KeyboardToMake


_to_make = msgspec.json.Decoder(_ToMake)


def to_make_json(keyboard: KeyboardToMake) -> str:
    """What an outbox row keeps in `reply_markup` until its buttons are made."""
    return msgspec.json.encode(_ToMake(keyboard)).decode()


def keyboard_to_make(raw: str | None) -> KeyboardToMake | None:
    """The buttons still to make of an outbox row's `reply_markup`, or None."""
    if not raw or not raw.startswith('{"make"'):
        return None
    return _to_make.decode(raw).make

PREFIX = "a:"


def callback_data(action_id: str) -> str:
    return PREFIX + action_id


def action_id_of(data: str | None) -> str | None:
    if not data or not data.startswith(PREFIX):
        return None
    action_id = data[len(PREFIX) :]
    return action_id if 0 < len(action_id) <= 22 else None


def markup_dict(keyboard: Keyboard) -> dict[str, object]:
    return {
        "inline_keyboard": [
            [{"text": label, "callback_data": callback_data(action)} for label, action in row]
            for row in keyboard
        ]
    }


def markup_json(keyboard: Keyboard | None) -> str | None:
    return msgspec.json.encode(markup_dict(keyboard)).decode() if keyboard else None
