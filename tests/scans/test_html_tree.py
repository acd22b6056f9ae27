"""The checks' tree is the one a browser builds (HTML standard tree construction) on malformed pages,
and the checks read the page as a browser would. Expected trees are the HTML standard's (the same
a browser's DOM inspector shows)."""

import pytest

from scans.checks import accessibility, links, meta
from scans.checks.fetch import Page
from scans.checks.html import Element, parse_html


def shape(element: Element) -> str:
    """`tag(child,child)` with text as 'text' (whitespace-only text left out)."""
    parts = []
    for child in element.children:
        if isinstance(child, Element):
            parts.append(shape(child))
        elif child.strip():
            parts.append(repr(child.strip()))
    return f"{element.tag}({','.join(parts)})" if parts else element.tag


def body(markup: str) -> str:
    found = parse_html(markup).find("body")
    assert found is not None
    return shape(found)


@pytest.mark.parametrize(
    ("markup", "tree"),
    [
        ("<p>one<p>two", "body(p('one'),p('two'))"),  # a <p> closes the open <p>
        ("<p>text<div>block</div>", "body(p('text'),div('block'))"),  # a block closes the <p>
        ("<ul><li>a<li>b</ul>", "body(ul(li('a'),li('b')))"),  # an <li> closes the open <li>
        ("<dl><dt>t<dd>d<dt>u</dl>", "body(dl(dt('t'),dd('d'),dt('u')))"),
        ("<table><tr><td>1<td>2</table>", "body(table(tbody(tr(td('1'),td('2')))))"),  # implied tbody
        ("<table><p>fostered</table>", "body(p('fostered'),table)"),  # foster parenting
        ("<b><i>x</b>y</i>", "body(b(i('x')),i('y'))"),  # the adoption agency algorithm
        ("<select><option>a<option>b</select>", "body(select(option('a'),option('b')))"),
        ("<h1>A<h1>B", "body(h1('A'),h1('B'))"),  # a heading closes an open heading
    ],
)
def test_malformed_markup_builds_the_browsers_tree(markup, tree):
    assert body(markup) == tree


def test_head_elements_after_the_body_starts_and_stray_end_tags_are_handled_like_a_browser():
    root = parse_html("<title>T</title></div><meta name=description content=d><p>x</span>y")
    head = root.find("head")
    assert head is not None and [child.tag for child in head.children if isinstance(child, Element)] == [
        "title",
        "meta",
    ]
    assert body("<p>x</span>y") == "body(p('xy'))"  # the stray end tag is dropped, the text is one node


def page(html: str) -> Page:
    return Page(url="http://site.test/", final_url="http://site.test/", status=200, headers={}, html=html)


def test_links_on_unclosed_anchors_are_separate_links_with_their_own_text():
    markup = '<a href="/1">one<a href="/2">two</a> and <a href="/3">three'
    assert body(markup) == "body(a('one'),a('two'),'and',a('three'))"
    found = links.extract_links(page(markup))
    assert [(link.url, link.text) for link in found] == [
        ("http://site.test/1", "one"),
        ("http://site.test/2", "two"),
        ("http://site.test/3", "three"),
    ]


def test_a_formatting_element_left_open_is_reconstructed_as_a_browser_does():
    # The open <a> is closed by the next <a>, and reconstructed (empty) inside the <p> first: a
    # browser's document.links has four entries here, and so does the check.
    markup = '<a href="/1">one<a href="/2">two<p><a href="/3">three'
    assert body(markup) == "body(a('one'),a('two'),p(a,a('three')))"
    assert [link.url[-2:] for link in links.extract_links(page(markup))] == ["/1", "/2", "/2", "/3"]


def test_meta_counts_headings_a_browser_sees():
    result = meta.analyse(page("<title>A title long enough</title><h1>One<h1>Two"))
    assert result["headings"]["h1"] == {"count": 2, "texts": ["One", "Two"]}


def test_accessibility_reads_a_label_that_a_browser_closes_around_its_input():
    # The <label> is implicitly closed by nothing here: the input is inside it, so it is labelled.
    clean = accessibility.analyse(page('<html lang="en"><label>Name <input name="n"></label>'))
    assert "form-label" not in {finding["rule"] for finding in clean["findings"]}
    # An input a <p> auto-close moved out of nothing: still unlabelled.
    bare = accessibility.analyse(page('<html lang="en"><p>Name<p><input name="n">'))
    assert "form-label" in {finding["rule"] for finding in bare["findings"]}
