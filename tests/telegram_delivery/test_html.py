"""html helpers: escaping, and splits that Telegram accepts part by part."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.html import esc, split_message, truncate_html
from tests.fakes.telegram_server import html_to_text  # Telegram's strict HTML rules

WORDS = st.text(alphabet="ab <>&\"'é🙂", min_size=0, max_size=30)
TAGS = st.sampled_from(["b", "i", "code", "blockquote"])


@st.composite
def html_documents(draw: st.DrawFn) -> str:
    """Escaped lines, some wrapped in tags that span several lines, some nested."""
    out: list[str] = []
    for _ in range(draw(st.integers(1, 40))):
        line = esc(draw(WORDS))
        if draw(st.booleans()):
            tag = draw(TAGS)
            inner = "\n".join(esc(draw(WORDS)) for _ in range(draw(st.integers(1, 4))))
            line = f"{line}<{tag}>{inner}<a href=\"{esc('http://x/?a=1&b=2')}\">{line}</a></{tag}>"
        out.append(line)
    return "\n".join(out)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@settings(max_examples=150, deadline=None)
@given(document=html_documents(), limit=st.integers(120, 600))
def test_split_parts_fit_parse_and_keep_all_text(document: str, limit: int) -> None:
    parts = split_message(document, limit)

    assert all(len(part) <= limit for part in parts)
    shown = "".join(html_to_text(part) for part in parts)  # raises on any broken part
    assert squeeze(shown) == squeeze(html_to_text(document))


def test_split_cuts_between_lines_and_reopens_tags() -> None:
    text = "<b>one\ntwo\nthree</b>\nfour"
    assert split_message(text, 18) == ["<b>one\ntwo</b>", "<b>three</b>\nfour"]


def test_overlong_line_is_cut_at_a_space_never_inside_an_entity() -> None:
    text = ("&amp;" * 30) + " tail"
    parts = split_message(text, 40)
    assert all(len(p) <= 40 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")
    assert all(re.fullmatch(r"(&amp;| |tail)*", part) for part in parts)


def test_short_text_is_one_part() -> None:
    assert split_message("<b>hi</b> there") == ["<b>hi</b> there"]


@pytest.mark.parametrize("limit", [20, 50, 4096])
def test_truncate_keeps_a_valid_prefix(limit: int) -> None:
    text = "<b>" + "\n".join(f"line {n} &lt;x&gt;" for n in range(400)) + "</b>"
    cut = truncate_html(text, limit)

    assert len(cut) <= limit
    assert cut.endswith("…")
    assert html_to_text(text).startswith(html_to_text(cut).removesuffix("…").rstrip())


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate_html("<i>ok</i>", 4096) == "<i>ok</i>"


def test_esc_escapes_markup_and_quotes() -> None:
    assert esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert esc(4.5) == "4.5"
