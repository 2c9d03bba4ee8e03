"""Telegram HTML message helpers: escape dynamic values, split or truncate long messages.

Telegram rejects a whole message when its HTML is malformed, so every dynamic value goes
through `esc`, and long texts are cut only between lines (or, for an overlong line, between
tags, entities and characters), with tags open at a cut closed and reopened around it.
Lengths are measured on the HTML source, which is never shorter than what Telegram counts.
"""

from __future__ import annotations

import html
import re

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
    current = ""
    open_tags: list[tuple[str, str]] = []  # (name, opening tag as written), outermost first
    for piece in _pieces(text, limit):
        after = _apply_tags(open_tags, piece)
        if current and len(current) + len(piece) + len(_closers(after)) > limit:
            parts.append(current.rstrip("\n") + _closers(open_tags))
            current = "".join(tag for _, tag in open_tags)
        if len(current) + len(piece) + len(_closers(after)) > limit:
            raise ValueError(f"tags nest too deep to fit a part of {limit} characters")
        current += piece
        open_tags = after
    parts.append(current + _closers(open_tags))
    return [part.strip("\n") for part in parts if part.strip()]


def truncate_html(text: str, limit: int = MAX_MESSAGE_LENGTH, ellipsis: str = ELLIPSIS) -> str:
    """Keep as much of `text` as fits in `limit` characters, marking a cut with `ellipsis`."""
    if len(text) <= limit:
        return text
    return split_message(text, limit - len(ellipsis))[0] + ellipsis


def _pieces(text: str, limit: int) -> list[str]:
    """Lines (with their newline); a line too long for a part is cut between tokens, at a
    space when there is one in the second half of the chunk."""
    budget = max(limit // 2, 1)  # leaves room for tags closed and reopened around a cut
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        while len(line) > budget:
            cut = _safe_cut(line, budget)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    return pieces


def _safe_cut(line: str, budget: int) -> int:
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


def _closers(open_tags: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(open_tags))
