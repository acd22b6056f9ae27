"""On-page SEO: title, description, canonical, robots, Open Graph, headings and keyword presence."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from .fetch import Page, target_page
from .html import Element
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "meta"
TITLE_LENGTH = (10, 60)
DESCRIPTION_LENGTH = (50, 160)
REQUIRED_OPEN_GRAPH = ("og:title", "og:type", "og:image", "og:url")


def analyse(page: Page, *, keywords: tuple[str, ...] = ()) -> dict[str, Any]:
    root = page.tree
    title_element = root.find("title")
    title = title_element.text() if title_element else ""
    metas = {_meta_name(meta): meta.get("content").strip() for meta in root.iter("meta") if _meta_name(meta)}
    description = metas.get("description", "")
    robots = metas.get("robots", "") or page.headers.get("x-robots-tag", "")
    canonical_link = next((link for link in root.iter("link") if "canonical" in link.get("rel").lower().split()), None)
    canonical = urljoin(page.final_url, canonical_link.get("href")) if canonical_link is not None else ""
    open_graph = {key: value for key, value in metas.items() if key.startswith("og:")}
    headings = {f"h{level}": [h.text() for h in root.iter(f"h{level}")] for level in range(1, 7)}

    findings: list[dict[str, str]] = []

    def finding(code: str, message: str, severity: str = "warning") -> None:
        findings.append({"code": code, "severity": severity, "message": message})

    if not title:
        finding("title-missing", "The page has no <title>.", "error")
    elif not TITLE_LENGTH[0] <= len(title) <= TITLE_LENGTH[1]:
        finding("title-length", f"The title is {len(title)} characters; aim for {TITLE_LENGTH[0]}-{TITLE_LENGTH[1]}.")
    if not description:
        finding("description-missing", "The page has no meta description.", "error")
    elif not DESCRIPTION_LENGTH[0] <= len(description) <= DESCRIPTION_LENGTH[1]:
        finding(
            "description-length",
            f"The description is {len(description)} characters; "
            f"aim for {DESCRIPTION_LENGTH[0]}-{DESCRIPTION_LENGTH[1]}.",
        )
    if not canonical:
        finding("canonical-missing", "The page has no canonical link.")
    robot_rules = {rule.strip().lower() for rule in robots.split(",") if rule.strip()}
    if "noindex" in robot_rules:
        finding("robots-noindex", "Robots are told not to index the page.", "error")
    missing_og = [key for key in REQUIRED_OPEN_GRAPH if not open_graph.get(key)]
    if missing_og:
        finding("open-graph-incomplete", "Open Graph tags missing: " + ", ".join(missing_og))
    if len(headings["h1"]) != 1:
        finding("h1-count", f"The page has {len(headings['h1'])} <h1> elements; use exactly one.")

    body = root.find("body") or root
    keyword_report = [
        _keyword_presence(keyword, title=title, description=description, h1=headings["h1"], body_text=body.text())
        for keyword in keywords
    ]
    for report in keyword_report:
        if not report["inTitle"] and not report["inBody"]:
            finding("keyword-absent", f"The keyword {report['keyword']!r} does not appear on the page.")
    return {
        "title": title,
        "titleLength": len(title),
        "description": description,
        "descriptionLength": len(description),
        "canonical": canonical,
        "robots": sorted(robot_rules),
        "indexable": "noindex" not in robot_rules,
        "openGraph": open_graph,
        "headings": {level: {"count": len(texts), "texts": texts[:20]} for level, texts in headings.items()},
        "keywords": keyword_report,
        "findings": findings,
    }


def _meta_name(meta: Element) -> str:
    return (meta.get("name") or meta.get("property")).strip().lower()


def _keyword_presence(keyword: str, *, title: str, description: str, h1: list[str], body_text: str) -> dict[str, Any]:
    needle = keyword.lower()
    return {
        "keyword": keyword,
        "inTitle": needle in title.lower(),
        "inDescription": needle in description.lower(),
        "inH1": any(needle in text.lower() for text in h1),
        "inBody": needle in body_text.lower(),
        "occurrences": body_text.lower().count(needle),
    }


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    page = target_page(target, service=NAME, settings=settings)
    return analyse(page, keywords=target.keywords)


register(
    ScanService(
        name=NAME, description="Title, description, canonical, robots, Open Graph, headings, keywords.", run=run
    )
)
