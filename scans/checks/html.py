"""A small element tree built with the standard library's `html.parser`, shared by every page check.

Browsers repair broken markup in many ways; this builder does the few that matter for the checks:
void elements never take children, and an end tag closes every element opened inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

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


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element(tag="#document")
        self.stack: list[Element] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(
            tag=tag,
            attrs={key.lower(): value or "" for key, value in attrs},
            parent=self.stack[-1],
            line=self.getpos()[0],
        )
        self.stack[-1].children.append(element)
        if tag not in VOID_ELEMENTS:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return  # an end tag with no open element is ignored, as browsers do

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(markup: str) -> Element:
    """Parse a document into an element tree; never raises on malformed markup."""
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root
