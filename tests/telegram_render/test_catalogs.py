"""Every text marked in the code has a Russian translation, and every translation (in any
catalog file under bot/locale/ru) keeps its message id's {placeholders} and HTML tags."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import bot
from bot.i18n import LOCALE_DIR, Translator

BOT_DIR = Path(bot.__file__).parent
# What `make i18n-extract` passes to pybabel.
KEYWORDS = {
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "Say": None,
    "UserError": None,
    "say_n": (1, 2),
}
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")
TAG = re.compile(r"</?(?:b|i|u|s|code|pre|a|tg-spoiler|blockquote)\b[^>]*>")
RUSSIAN_PLURALS = 3


def _ids(message: str | tuple[str, ...]) -> tuple[str, ...]:
    return message if isinstance(message, tuple) else (message,)


def marked_in_code() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(BOT_DIR), keywords=KEYWORDS
    ):
        ids = tuple(m for m in _ids(message) if m)
        if ids:
            found.add(ids if len(ids) > 1 else ids[0])
    return found


def russian_entries() -> list[tuple[Path, Message]]:
    entries = []
    for po in sorted((LOCALE_DIR / "ru" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale="ru")
        entries += [(po, message) for message in catalog if message.id]
    return entries


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def tags(text: str) -> Counter[str]:
    return Counter(re.sub(r"\s.*", ">", tag) for tag in TAG.findall(text))


def test_every_marked_text_has_a_russian_translation() -> None:
    translated: dict[str, Message] = {}
    for _po, message in russian_entries():
        key = _ids(message.id)[0]
        if all(_ids(message.string)):
            translated.setdefault(key, message)
    missing = sorted(
        _ids(message)[0] for message in marked_in_code() if _ids(message)[0] not in translated
    )
    assert not missing, f"{len(missing)} texts have no Russian translation: {missing[:20]}"


def test_translations_keep_placeholders_and_tags() -> None:
    problems = []
    for po, message in russian_entries():
        ids, strings = _ids(message.id), _ids(message.string)
        if message.pluralizable and len(strings) != RUSSIAN_PLURALS:
            problems.append(f"{po.name}: {ids[0]!r} needs {RUSSIAN_PLURALS} plural forms")
        wanted = placeholders(ids[-1])
        for text in strings:
            if not text:
                continue
            got = placeholders(text)
            # A singular form may name its count ("одна машина") instead of {n}.
            if got != wanted and not (message.pluralizable and got == wanted - {"n"}):
                problems.append(f"{po.name}: {ids[0]!r}: placeholders {got} != {wanted}")
            if tags(text) != tags(ids[-1]):
                problems.append(f"{po.name}: {ids[0]!r}: HTML tags differ")
    assert not problems, "\n".join(problems)


def test_russian_plurals_follow_the_number() -> None:
    tr = Translator("ru")
    forms = [tr.ngettext("{n} machine", "{n} machines", n) for n in (1, 2, 5, 11, 21, 22, 25)]
    assert forms == [
        "1 машина", "2 машины", "5 машин", "11 машин", "21 машина", "22 машины", "25 машин",
    ]  # fmt: skip
