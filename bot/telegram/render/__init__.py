"""Everything a user reads: services and the cycle return typed results and events, the
modules of this package turn them into HTML text and buttons in the user's language.

One module per area (`common` for numbers and server lines, `language` for /lang, ...).
A render function takes a `Translator` first and returns a `Rendered` (or a plain `str`
where no buttons can follow). Values are escaped with `bot.telegram.html.esc`; message ids
are the English texts (`bot.i18n`), so `make i18n-extract` finds every one of them.

Buttons are `ButtonToMake` (label, kind, typed payload): their callback actions are made
when the message is sent, in the Telegram layer, so rendering never touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.models import User
from bot.i18n import Translator, translator
from bot.services.buttons import KeyboardToMake

__all__ = ["Rendered", "Translator", "translator_for"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One answer: HTML text (values escaped) and the buttons to attach, if any."""

    text: str
    keyboard: KeyboardToMake | None = None


def translator_for(user: User) -> Translator:
    """The user's language (`users.language`, English when they never had one)."""
    return translator(user.language)
