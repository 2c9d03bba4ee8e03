"""Telegram HTML message helpers: escape dynamic values, split or truncate long messages.

Telegram rejects a whole message when its HTML is malformed, so every dynamic value goes
through `esc`, and long texts are cut only between lines (or, for an overlong line, between
tags, entities and characters), with tags open at a cut closed and reopened around it.
Lengths are measured on the HTML source, which is never shorter than what Telegram counts.
"""

from __future__ import annotations

import html
import re
from collections import deque

MAX_MESSAGE_LENGTH = 4096
ELLIPSIS = "…"

_TOKEN_RE = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;|.", re.DOTALL)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w-]*)[^<>]*>")


def esc(value: object) -> str:
    """Escape any dynamic value (names, GPU models, user input) for HTML parse mode."""
    return html.escape(str(value), quote=True)


def split_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split HTML into parts of at most `limit` characters, each well formed on its own."""
    parts: list[str] = []
    open_tags: list[tuple[str, str]] = []  # (name, opening tag as written), outermost first
    current, has_text = "", False
    pending = deque(text.splitlines(keepends=True))
    while pending:
        piece = pending.popleft()
        after = _apply_tags(open_tags, piece)
        if len(current) + len(piece) + len(_closers(after)) <= limit:
            current, open_tags, has_text = current + piece, after, True
        elif has_text:  # close this part; the piece starts the next one
            parts.append(current.rstrip("\n") + _closers(open_tags))
            current, has_text = "".join(tag for _, tag in open_tags), False
            pending.appendleft(piece)
        else:  # a line too long for any part: cut it where it can be cut
            room = limit - len(current) - len(_closers(open_tags)) - _closers_opened_in(piece)
            cut = _safe_cut(piece, room)
            if room <= 0 or cut >= len(piece):
                raise ValueError(f"tags nest too deep to fit a part of {limit} characters")
            pending.extendleft([piece[cut:], piece[:cut]])
    if has_text:
        parts.append(current + _closers(open_tags))
    return [part.strip("\n") for part in parts if part.strip()]


def truncate_html(text: str, limit: int = MAX_MESSAGE_LENGTH, ellipsis: str = ELLIPSIS) -> str:
    """Keep as much of `text` as fits in `limit` characters, marking a cut with `ellipsis`."""
    if len(text) <= limit:
        return text
    return split_message(text, limit - len(ellipsis))[0] + ellipsis


def _safe_cut(line: str, budget: int) -> int:
    """Where to cut `line` so the head has at most `budget` characters (at a space in the
    second half if there is one) without splitting a tag or an entity."""
    cut = space = 0
    for token in _TOKEN_RE.finditer(line):
        if token.end() > budget and cut > 0:  # the first token goes in whatever its length
            break
        cut = token.end()
        if token.group() == " ":
            space = cut
    return space if space > cut // 2 else cut


def _apply_tags(open_tags: list[tuple[str, str]], piece: str) -> list[tuple[str, str]]:
    stack = list(open_tags)
    for tag in _TAG_RE.finditer(piece):
        name = tag.group(2).lower()
        if not tag.group(1):
            stack.append((name, tag.group()))
        elif stack and stack[-1][0] == name:
            stack.pop()
    return stack


def _closers_opened_in(piece: str) -> int:
    return sum(len(tag.group(2)) + 3 for tag in _TAG_RE.finditer(piece) if not tag.group(1))


def _closers(open_tags: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(open_tags))
