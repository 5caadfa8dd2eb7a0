"""md() and code() against a real CommonMark parser (markdown-it-py): what a target wrote is
rendered as exactly that text — no HTML, link, heading, list or emphasis, no stray backslash."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pytest_release.report.markdown import code, md

PARSER = MarkdownIt("commonmark")  # raw HTML is enabled in this preset: the test must see it
HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(3)>", "[click](http://evil)",
    "![img](http://evil/x.png)", "<http://evil>", "# heading", "1. list", "- [x] ticked",
    "**bold** _em_ ~~del~~", "&lt;script&gt;", "a | b | c", "`code` ``two``", "\\`escaped\\`",
    "> quote", "===", "line\nbreak  \n# heading", "trailing backslash \\", "`", "```",
    "<!-- comment -->", "x <b>y</b> z", "&#x3C;script&#x3E;",
]


def _inline(source: str) -> list[Any]:
    tokens = PARSER.parse(source)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], source
    return list(tokens[1].children or [])


def _flat(text: str) -> str:
    return " ".join(text.split())


def assert_md_is_text(value: str) -> None:
    children = _inline("x " + md(value))
    assert {c.type for c in children} <= {"text"}, (value, [c.type for c in children])
    assert "".join(c.content for c in children) == ("x " + _flat(value)).rstrip()
    assert "<" not in PARSER.render("x " + md(value)).replace("<p>", "").replace("</p>", "")


def assert_code_is_literal(value: str) -> None:
    children = _inline("x " + code(value))
    assert [c.type for c in children] == ["text", "code_inline"], (value, code(value))
    assert children[1].content == (_flat(value) or " ")


def test_hostile_values_render_as_their_own_text():
    for value in HOSTILE:
        assert_md_is_text(value)
        assert_code_is_literal(value)


def test_a_backtick_in_a_value_gets_a_longer_code_fence():
    assert code("a`b") == "``a`b``"
    assert code("`</code><script>") == "`` `</code><script> ``"
    assert code("``x``") == "``` ``x`` ```"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=40))
def test_any_printable_text_round_trips(value):
    assert_md_is_text(value)
    assert_list_item_is_text(value)
    assert_code_is_literal(value)


def test_at_the_start_of_a_list_item_a_value_opens_no_block():
    for value in [*HOSTILE, "1. one", "2) two", "- dash", "+ plus", "= eq", "---", "# h #"]:
        assert_list_item_is_text(value)


def assert_list_item_is_text(value: str) -> None:
    if not _flat(value):
        return
    tokens = PARSER.parse("- " + md(value))
    kinds = [t.type for t in tokens]
    assert kinds == ["bullet_list_open", "list_item_open", "paragraph_open", "inline",
                     "paragraph_close", "list_item_close", "bullet_list_close"], (value, kinds)
    children = tokens[3].children or []
    assert {c.type for c in children} <= {"text"}, (value, [c.type for c in children])
    assert "".join(c.content for c in children) == _flat(value)


def test_raw_markdown_stays_readable():
    assert md("v5.7.1 (commit 98ee13c) - ok!") == "v5.7.1 (commit 98ee13c) - ok!"
