"""Languages the bot speaks: gettext catalogs under `bot/locale/<lang>/LC_MESSAGES/`.

Message ids are the English texts, so English needs no catalog. Each part of the bot may keep
its own catalog file there (`messages.po`, `insight.po`, ...): all files of a language are
merged into one translator, so parts can be translated without touching each other's file.

A `.mo` file is used when it is at least as new as its `.po` (`make catalogs` builds them);
otherwise the `.po` is compiled in memory with Babel, so a fresh clone works without a build.

Code marks texts with `tr.gettext("...")` and `tr.ngettext("one ...", "{n} ...", n)` (the
names `pybabel extract` looks for), placeholders in `{name}` form, filled by keyword:
`tr.gettext("Rule {rule_id} saved", rule_id=3)`. Texts in tables are marked with `N_`.
Values are inserted as given: escaping HTML is the renderer's job.
"""

from __future__ import annotations

import gettext as _gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT_LANGUAGE = "en"
LANGUAGES: tuple[str, ...] = ("en", "ru")
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


def N_(msgid: str) -> str:
    """Marks a text for extraction where it is defined; translate it where it is shown."""
    return msgid


class Say:
    """A text to show, not yet in any language: the English message id and typed values.

    What services hand to the Telegram layer for plain notes and errors; the render package
    (`bot.telegram.render.common.say`) translates it and formats each value (prices as
    CLORE amounts, times as HH:MM UTC, text escaped). `make i18n-extract` finds `Say("...")`.
    """

    __slots__ = ("msgid", "n", "params", "plural")

    def __init__(self, msgid: str, /, **params: object) -> None:
        self.msgid = msgid
        self.params = params
        self.plural: str | None = None
        self.n = 0

    def english(self) -> str:
        """The English text with plain values: for logs and audit records, not for users."""
        values = {k: _english(v) for k, v in self.params.items()}
        text = self.msgid if self.plural is None or self.n == 1 else self.plural
        if self.plural is not None:
            values["n"] = self.n
        return text.format(**values) if values else text

    def __repr__(self) -> str:
        return f"Say({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Say) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash(self.msgid)


def say_n(singular: str, plural: str, n: int, /, **params: object) -> Say:
    """A `Say` with plural forms chosen by `n` (also available to the text as `{n}`)."""
    note = Say(singular, **params)
    note.plural, note.n = plural, n
    return note


def _english(value: object) -> object:
    if isinstance(value, Say):
        return value.english()
    if isinstance(value, list):
        return "; ".join(str(_english(item)) for item in value)
    return value


def pick_language(language_code: str | None) -> str:
    """The bot's language for a Telegram `language_code` ("ru", "ru-RU", "en-GB", None)."""
    if not language_code:
        return DEFAULT_LANGUAGE
    base = language_code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def _compiled(po: Path, lang: str) -> bytes:
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo.read_bytes()
    with po.open("rb") as source:
        catalog = read_po(source, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


@cache
def _translations(lang: str) -> _gettext.NullTranslations:
    chain: _gettext.NullTranslations = _gettext.NullTranslations()
    if lang == DEFAULT_LANGUAGE:
        return chain
    files = sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))
    parts = [_gettext.GNUTranslations(io.BytesIO(_compiled(po, lang))) for po in files]
    if not parts:
        return chain
    first = parts[0]
    for part in parts[1:]:
        first.add_fallback(part)
    return first


class Translator:
    """Texts in one language; `Translator.for_language(lang)` is cached and cheap."""

    __slots__ = ("_t", "lang")

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._t = _translations(self.lang)

    @staticmethod
    @cache
    def for_language(lang: str) -> Translator:
        return Translator(lang)

    def gettext(self, msgid: str, **params: object) -> str:
        text = self._t.gettext(msgid)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        """Plural forms; `n` is also available to the text as `{n}`."""
        return self._t.ngettext(singular, plural, n).format(n=n, **params)


def translator(lang: str | None) -> Translator:
    return Translator.for_language(lang or DEFAULT_LANGUAGE)
