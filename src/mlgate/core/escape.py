"""Text that reached mlgate from outside, made inert for the format it is shown in.

Category values arrive in prediction requests and end up in monitor findings; column names,
paths and messages come from data and config. In a report they must read as the characters
they are, never as markup: no HTML element (`<script>`), no link, no emphasis, no table cell
or line of their own; in a Slack message no mention (`<!channel>`, `<@U123>`) and no link
with a disguised label (`<http://x|y>`).

- `md_text`: GitHub-flavoured Markdown inline text, in a paragraph, a list item or a table
  cell. HTML's `<` and `&` become entities; every character that opens inline markup is
  backslash-escaped (`_` only where it could open or close emphasis: `roc_auc` stays as is);
  a character that would start a block (`#`, `- `, `+ `, `>`, `1. `) is escaped at the start.
- `md_code`: a code span that shows the value verbatim, whatever backticks it holds.
- `slack_text`: Slack mrkdwn, escaped as Slack documents (`&`, `<`, `>` as entities);
  `slack_code` also puts it in a code span so that `*`, `_` and `~` format nothing (Slack has
  no escape for those).

Every function folds line breaks and other control characters into spaces, so a value stays
on its line.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Always escaped: they open inline markup or a table cell anywhere in a line. `$` is GitHub's
# math, `~` strikethrough, `|` a cell boundary (escaped the same way inside and outside tables).
_INLINE = frozenset("\\`*[]|~$")
# What starts a block when it opens a line (or follows a list marker): an ordered item, a
# heading, a bullet, a thematic break. Negative numbers and versions (`-0.5`, `0.1.0`) do not.
_LEADING_ORDERED = re.compile(r"^(\d{1,9})([.)])(?= |$)")
_LEADING_MARKER = re.compile(r"^(?:#{1,6}(?= |$)|[-+](?=[ \-+]|$))")


def one_line(value: object) -> str:
    """`str(value)` with every line break and control character folded into a space."""
    return _CONTROL.sub(" ", str(value))


def _underscore_is_inert(text: str, i: int) -> bool:
    """An underscore between two letters or digits can neither open nor close emphasis."""
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def md_text(value: object) -> str:
    """`value` as inert Markdown inline text: it renders as exactly its characters (less
    whitespace at either end, which Markdown drops or reads as an indented code block)."""
    text = one_line(value).strip()
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch in _INLINE or (ch == "_" and not _underscore_is_inert(text, i)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    escaped = "".join(out)
    if escaped[:1] == ">":
        return "&gt;" + escaped[1:]
    if _LEADING_MARKER.match(escaped):
        return "\\" + escaped
    return _LEADING_ORDERED.sub(r"\1\\\2", escaped, count=1)


def md_code(value: object, *, table: bool = False) -> str:
    """`value` as a Markdown code span that shows it verbatim; `table` when the span sits in
    a table cell (where a pipe must be escaped even inside code)."""
    text = one_line(value)
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # One space is stripped from each end of a span that starts or ends with a space or a
    # backtick: pad, so that what shows is the value itself.
    pad = " " if text[0] in " `" or text[-1] in " `" else ""
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def slack_text(value: object) -> str:
    """`value` escaped for Slack mrkdwn as Slack documents: `&`, `<` and `>` as entities,
    so no mention, channel ping or link can be formed."""
    text = one_line(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(value: object) -> str:
    """`value` as a Slack inline code span: escaped, and with no formatting (a backtick in
    the value becomes a modifier grave, U+02CB, since Slack spans cannot hold one)."""
    text = slack_text(value).replace("`", "\u02cb")
    return f"`{text}`" if text else ""
