"""Inline keyboards as plain data: rows of (label, callback action id).

`callback_data` carries only `a:<action id>` (at most 24 bytes, well under Telegram's 64): what
a button does lives in the callback_actions table, never in the button.
"""

from __future__ import annotations

import msgspec

Button = tuple[str, str]  # label, callback action id
Keyboard = list[list[Button]]

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
