"""Structured data: JSON-LD, microdata and RDFa items, checked for the properties their type requires."""

from __future__ import annotations

import json
from typing import Any

from .fetch import Page, target_page
from .html import Element
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "schema"

# type → required properties; "a|b" means at least one of them (after schema.org / Google's rich results)
REQUIRED: dict[str, list[str]] = {
    "Article": ["headline", "author", "datePublished"],
    "NewsArticle": ["headline", "author", "datePublished"],
    "BlogPosting": ["headline", "author", "datePublished"],
    "Product": ["name", "offers|review|aggregateRating"],
    "Offer": ["price", "priceCurrency"],
    "Organization": ["name", "url"],
    "LocalBusiness": ["name", "address"],
    "Person": ["name"],
    "Event": ["name", "startDate", "location"],
    "BreadcrumbList": ["itemListElement"],
    "Recipe": ["name", "recipeIngredient"],
    "FAQPage": ["mainEntity"],
    "WebSite": ["name", "url"],
    "Review": ["itemReviewed", "reviewRating", "author"],
}
_VALUE_ATTRS = ("content", "href", "src", "datetime", "resource")


def short_type(value: str) -> str:
    """`https://schema.org/Product`, `schema:Product` and `Product` are all `Product`."""
    value = value.strip()
    for separator in ("/", "#", ":"):
        value = value.rsplit(separator, 1)[-1]
    return value


def validate(item_type: str, properties: dict[str, Any]) -> list[str]:
    missing = []
    for requirement in REQUIRED.get(item_type, []):
        options = requirement.split("|")
        if not any(_present(properties.get(option)) for option in options):
            missing.append(requirement.replace("|", " or "))
    return missing


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def analyse(page: Page) -> dict[str, Any]:
    root = page.tree
    errors: list[str] = []
    raw: list[tuple[str, str, dict[str, Any]]] = []
    raw += [("json-ld", item_type, props) for item_type, props in _json_ld(root, errors)]
    raw += [("microdata", item_type, props) for item_type, props in _scoped_items(root, microdata=True)]
    raw += [("rdfa", item_type, props) for item_type, props in _scoped_items(root, microdata=False)]
    items = []
    for fmt, item_type, props in raw:
        missing = validate(item_type, props)
        items.append(
            {
                "format": fmt,
                "type": item_type,
                "properties": sorted(props),
                "missing": missing,
                "valid": not missing,
                "known": item_type in REQUIRED,
            }
        )
    return {
        "items": items,
        "count": len(items),
        "valid": sum(1 for item in items if item["valid"]),
        "invalid": sum(1 for item in items if not item["valid"]),
        "types": sorted({item["type"] for item in items}),
        "formats": sorted({item["format"] for item in items}),
        "errors": errors,
    }


def _json_ld(root: Element, errors: list[str]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for script in root.iter("script"):
        if script.get("type").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.raw_text())
        except ValueError as exc:
            errors.append(f"invalid JSON-LD on line {script.line}: {exc}")
            continue
        nodes = data if isinstance(data, list) else [data]
        for node in nodes:
            if isinstance(node, dict) and isinstance(node.get("@graph"), list):
                nodes.extend(node["@graph"])
                continue
            if not isinstance(node, dict) or "@type" not in node:
                continue
            types = node["@type"] if isinstance(node["@type"], list) else [node["@type"]]
            props = {key: value for key, value in node.items() if not key.startswith("@")}
            found += [(short_type(str(item_type)), props) for item_type in types]
    return found


def _scoped_items(root: Element, *, microdata: bool) -> list[tuple[str, dict[str, Any]]]:
    """Top-level microdata (`itemscope`/`itemtype`/`itemprop`) or RDFa (`typeof`/`property`) items."""
    scope_attr, prop_attr = ("itemscope", "itemprop") if microdata else ("typeof", "property")
    found = []
    for element in root.iter():
        if element.has(scope_attr) and not element.has(prop_attr):
            found.append(_item(element, microdata=microdata))
    return found


def _item(element: Element, *, microdata: bool) -> tuple[str, dict[str, Any]]:
    scope_attr, prop_attr = ("itemscope", "itemprop") if microdata else ("typeof", "property")
    item_type = short_type(element.get("itemtype") if microdata else element.get("typeof")) or "Thing"
    props: dict[str, Any] = {}
    stack = [child for child in reversed(element.children) if isinstance(child, Element)]
    while stack:
        node = stack.pop()
        if node.has(prop_attr):
            value: Any
            if node.has(scope_attr):
                nested_type, nested = _item(node, microdata=microdata)
                value = {"@type": nested_type, **nested}
            else:
                value = next((node.get(attr) for attr in _VALUE_ATTRS if node.get(attr)), "") or node.text()
            for name in node.get(prop_attr).split():
                props.setdefault(short_type(name), value)
        if not node.has(scope_attr):  # a nested item's properties belong to it, not to us
            stack.extend(child for child in reversed(node.children) if isinstance(child, Element))
    return item_type, props


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    return analyse(target_page(target, service=NAME, settings=settings))


register(
    ScanService(name=NAME, description="Structured data (JSON-LD, microdata, RDFa) and required properties.", run=run)
)
