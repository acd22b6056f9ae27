"""A small element tree, shared by every page check, built from an HTML5 parser (lexbor, through
selectolax): the tree-construction rules of the HTML standard, so a check sees the tree a browser
builds, with implicit `</p>` and `</li>`, `<tbody>` inside tables, misnested formatting repaired, a
stray `<title>` in the body moved where it belongs. The checks walk these plain `Element`s, not
the parser's objects, so they stay small pure functions and the parser can be swapped here alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser

VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)
    parent: Element | None = field(default=None, repr=False)
    line: int = 0

    def get(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.attrs

    def iter(self, *tags: str) -> Iterator[Element]:
        """This element and its descendants in document order, optionally only the given tags."""
        stack: list[Element] = [self]
        while stack:
            element = stack.pop()
            if not tags or element.tag in tags:
                yield element
            stack.extend(child for child in reversed(element.children) if isinstance(child, Element))

    def find(self, *tags: str) -> Element | None:
        return next(self.iter(*tags), None)

    def text(self) -> str:
        """The text content, whitespace collapsed; script and style content excluded."""
        parts: list[str] = []
        stack: list[Element | str] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                parts.append(node)
            elif node.tag not in ("script", "style", "template") or node is self:
                stack.extend(reversed(node.children))
        return " ".join(" ".join(parts).split())

    def raw_text(self) -> str:
        """The element's direct text children as written (for script content such as JSON-LD)."""
        return "".join(child for child in self.children if isinstance(child, str))

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def snippet(self) -> str:
        attrs = " ".join(f'{key}="{value}"' if value else key for key, value in list(self.attrs.items())[:4])
        return f"<{self.tag}{' ' + attrs if attrs else ''}>"[:160]


def parse_html(markup: str) -> Element:
    """Parse a document into an element tree as a browser would; never raises on malformed markup."""
    document = LexborHTMLParser(markup).root
    root = Element(tag="#document")
    if document is None:
        return root
    parent = document.parent or document
    # Iterative (a page may nest thousands deep): (lexbor node, the Element its children go to).
    stack: list[tuple[Any, Element]] = [(child, root) for child in reversed(list(_children(parent)))]
    script_cursor = 0
    while stack:
        node, into = stack.pop()
        tag = node.tag
        if tag == "-text":
            into.children.append(node.text_content or "")
            continue
        if not tag or tag.startswith(("-", "!", "_")):  # comments, doctype
            continue
        element = Element(
            tag=tag,
            attrs={str(key).lower(): value or "" for key, value in node.attributes.items()},
            parent=into,
        )
        into.children.append(element)
        stack.extend((child, element) for child in reversed(list(_children(node))))
        if tag == "script":  # where it starts, for messages about its content (JSON-LD errors)
            content = node.text(deep=True)
            position = markup.find(content, script_cursor) if content else -1
            if position >= 0:
                element.line = markup.count("\n", 0, position) + 1
                script_cursor = position
    return root


def _children(node: Any) -> Iterator[Any]:
    child = node.child
    while child is not None:
        yield child
        child = child.next
