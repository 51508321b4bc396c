"""Telegram's HTML parse mode as the sandbox applies it."""

import pytest

from bot.templates.telegram_html import HtmlParseError, parse_html, strip_text

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<p>hi</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("<i   =aba>x</i>", 'Empty attribute name in the tag "i" at byte offset 0'),
        (
            "<i aba>x</i>",
            'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 0',
        ),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</i>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
def test_invalid_html_is_refused_with_telegram_wording(html: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(html)

    assert str(caught.value) == error


def test_entities_use_utf16_offsets() -> None:
    text, entities = parse_html(
        "😀 <b>bold</b> &lt;<i>it</i>&gt; <a href='https://x.io/?a=1&amp;b=2'>l</a>"
    )

    assert text == "😀 bold <it> l"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "italic", "offset": 9, "length": 2},
        {"type": "text_link", "offset": 13, "length": 1, "url": "https://x.io/?a=1&b=2"},
    ]


def test_all_supported_tags_parse() -> None:
    html = (
        "<strong>a</strong><em>b</em><u>c</u><ins>d</ins><s>e</s><strike>f</strike><del>g</del>"
        '<tg-spoiler>h</tg-spoiler><span class="tg-spoiler">i</span><code>j</code>'
        '<pre><code class="language-python">k</code></pre><blockquote>l</blockquote>'
        "<blockquote expandable>m</blockquote>"
        '<tg-emoji emoji-id="5368324170671202286">n</tg-emoji>'
    )

    text, entities = parse_html(html)

    assert text == "abcdefghijklmn"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "code",
        "pre",
        "blockquote",
        "expandable_blockquote",
        "custom_emoji",
    ]
    assert entities[10] == {"type": "pre", "offset": 10, "length": 1, "language": "python"}


def test_numeric_entities_decode_and_unknown_ones_stay_literal() -> None:
    assert parse_html("&#65;&#x42;&nbsp;&") == ("AB&nbsp;&", [])


def test_strict_mode_refuses_unknown_entities() -> None:
    with pytest.raises(HtmlParseError, match="Unsupported HTML entity at byte offset 3"):
        parse_html("Tom&Jerry", strict_entities=True)


def test_strip_text_trims_whitespace_and_shifts_entities() -> None:
    text, entities = parse_html("\n  <b> hi</b> there \n")

    assert strip_text(text, entities) == ("hi there", [{"type": "bold", "offset": 0, "length": 2}])
