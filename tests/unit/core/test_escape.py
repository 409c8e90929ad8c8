"""Escaped text renders as its own characters and nothing more: checked with a real CommonMark
renderer (markdown-it, with GitHub's tables and strikethrough) on examples and on any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mlgate.core.escape import md_code, md_text, one_line, slack_code, slack_text

pytestmark = pytest.mark.unit

GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])
HOSTILE = [
    "<script>alert(1)</script>",
    "<!channel> <@U123> <http://x|y>",
    "a | b\nc",
    "*bold* _it_ ~strike~ `code` [link](http://x) ![i](http://x)",
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "&lt;b&gt; &amp; &#60;",
    "<!-- hidden",
    "back\\slash\\",
    "$x^2$",
    "    indented",
    "roc_auc = 0.9 >= 0.8",
    "---",
    "- - -",
    "+ x",
    "1) x",
    "2.",
    "######",
]


# Text drawn mostly from the characters that mean something in Markdown, HTML or Slack.
MARKUP_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(list("<>&*_`[]()|!#-+.=1 \\~$\n@:/ax")), st.characters())
)


def inline_children(markdown: str) -> list[Token]:
    """The inline tokens of a one-paragraph (or one-item, one-cell) document."""
    inline = [t for t in GFM.parse(markdown) if t.type == "inline"]
    assert len(inline) <= 2, markdown  # a table has its header row's inline too
    return list(inline[-1].children or []) if inline else []


def shown(markdown: str) -> str:
    """What a reader sees, asserting it is plain text (no element, link, emphasis, code)."""
    children = inline_children(markdown)
    assert all(c.type == "text" for c in children), [c.type for c in children]
    return "".join(c.content for c in children)


def structure(markdown: str) -> list[str]:
    return [t.type for t in GFM.parse(markdown)]


@pytest.mark.parametrize("value", HOSTILE)
def test_md_text_is_plain_text_in_a_paragraph_a_list_and_a_table(value: str) -> None:
    expected = one_line(value).strip()
    assert shown(md_text(value)) == expected
    item = "- " + md_text(value)
    assert shown(item) == expected
    assert structure(item)[:2] == ["bullet_list_open", "list_item_open"]
    assert structure(item).count("list_item_open") == 1
    assert shown("| h |\n| --- |\n| " + md_text(value) + " |\n") == expected
    rows = structure("| h | n |\n| --- | --- |\n| " + md_text(value) + " | 1 |\n")
    assert rows.count("td_open") == 2
    assert rows.count("tr_open") == 2


def test_what_cannot_be_markup_stays_as_typed() -> None:
    for plain in ("roc_auc >= 0.8", "0.1.0", "-0.5", "+0.25", "#x", "2026-12-01T20:00:00+00:00"):
        assert md_text(plain) == plain
    assert md_text("_x_") == "\\_x\\_"


@given(MARKUP_TEXT)
def test_md_text_renders_any_text_as_itself(value: str) -> None:
    expected = one_line(value).strip()
    assert shown("x " + md_text(value)) == ("x " + expected).strip()
    assert shown("- " + md_text(value)) == expected


@pytest.mark.parametrize("value", [*HOSTILE, "`", "``a`", " a", "a`` b", "|"])
def test_md_code_shows_the_value_verbatim(value: str) -> None:
    children = inline_children("x " + md_code(value))
    assert [c.type for c in children] == ["text", "code_inline"]
    assert children[1].content == one_line(value)
    cell = inline_children("| h |\n| --- |\n| " + md_code(value, table=True) + " |\n")
    assert [c.type for c in cell] == ["code_inline"]
    assert cell[0].content == one_line(value)


@given(MARKUP_TEXT.filter(lambda s: one_line(s).strip(" ")))
def test_md_code_holds_any_text(value: str) -> None:
    children = inline_children("x " + md_code(value))
    assert [c.type for c in children] == ["text", "code_inline"]
    assert children[1].content == one_line(value)


def test_slack_text_escapes_what_slack_documents() -> None:
    text = slack_text("<!channel> <@U123> <http://x|y> a & b\n> quote")
    assert text == "&lt;!channel&gt; &lt;@U123&gt; &lt;http://x|y&gt; a &amp; b &gt; quote"
    assert "<" not in text
    assert ">" not in text


def test_slack_code_keeps_markup_from_formatting() -> None:
    assert slack_code("*bold* `x` <!here>") == "`*bold* \u02cbx\u02cb &lt;!here&gt;`"
    assert slack_code("") == ""
