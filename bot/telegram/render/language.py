"""/lang: the language picker."""

from __future__ import annotations

from bot.i18n import LANGUAGE_NAMES, LANGUAGES, Translator
from bot.services.buttons import ButtonToMake
from bot.telegram.render import Rendered

LANGUAGE_KIND = "language"


def picker(tr: Translator) -> Rendered:
    buttons = [
        ButtonToMake(("✅ " if lang == tr.lang else "") + LANGUAGE_NAMES[lang], LANGUAGE_KIND,
                     {"lang": lang})
        for lang in LANGUAGES
    ]  # fmt: skip
    return Rendered(tr.gettext("Choose the language I speak with you:"), [buttons])
