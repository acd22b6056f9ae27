"""Accessibility: a score out of 100 and findings for the common WCAG failures that static markup shows."""

from __future__ import annotations

import re
from typing import Any

from .fetch import Page, target_page
from .html import Element
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "accessibility"

# rule → (severity, points off per occurrence, most points off for the rule)
RULES: dict[str, tuple[str, int, int]] = {
    "image-alt": ("serious", 5, 25),
    "html-lang": ("serious", 10, 10),
    "form-label": ("serious", 5, 25),
    "heading-order": ("moderate", 5, 15),
    "color-contrast": ("moderate", 3, 15),
}
_UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "image", "reset"}
_NAMED_COLOURS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
    "lightgray": (211, 211, 211),
    "lightgrey": (211, 211, 211),
    "navy": (0, 0, 128),
}
MIN_CONTRAST = 4.5


def analyse(page: Page) -> dict[str, Any]:
    root = page.tree
    found: dict[str, list[str]] = {rule: [] for rule in RULES}
    html = root.find("html")
    if html is None or not html.get("lang").strip():
        found["html-lang"].append("<html>")
    found["image-alt"] = [img.snippet() for img in root.iter("img") if not img.has("alt")]
    found["form-label"] = [control.snippet() for control in _unlabelled_controls(root)]
    found["heading-order"] = _heading_skips(root)
    found["color-contrast"] = _contrast_hints(root)
    findings = []
    score = 100
    for rule, elements in found.items():
        if not elements:
            continue
        severity, points, cap = RULES[rule]
        score -= min(points * len(elements), cap)
        findings.append(
            {
                "rule": rule,
                "severity": severity,
                "count": len(elements),
                "message": _MESSAGES[rule],
                "elements": elements[:10],
            }
        )
    return {"score": max(score, 0), "findings": findings, "issues": sum(f["count"] for f in findings)}


_MESSAGES = {
    "image-alt": "Images must have an alt attribute (empty for decorative images).",
    "html-lang": "The <html> element must declare the page's language.",
    "form-label": "Form controls must have a label, aria-label or aria-labelledby.",
    "heading-order": "Heading levels should only increase by one.",
    "color-contrast": f"Inline text colour contrast is below {MIN_CONTRAST}:1.",
}


def _unlabelled_controls(root: Element) -> list[Element]:
    labelled_ids = {label.get("for") for label in root.iter("label") if label.get("for")}
    missing = []
    for control in root.iter("input", "select", "textarea"):
        if control.tag == "input" and control.get("type", "text").lower() in _UNLABELLED_INPUT_TYPES:
            continue
        if control.get("aria-label").strip() or control.get("aria-labelledby").strip() or control.get("title"):
            continue
        if control.get("id") and control.get("id") in labelled_ids:
            continue
        if any(ancestor.tag == "label" for ancestor in control.ancestors()):
            continue
        missing.append(control)
    return missing


def _heading_skips(root: Element) -> list[str]:
    skips = []
    previous = 0
    for heading in root.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        level = int(heading.tag[1])
        if previous and level > previous + 1:
            skips.append(f"<h{previous}> followed by <h{level}>: {heading.text()[:60]}")
        previous = level
    return skips


def _contrast_hints(root: Element) -> list[str]:
    hints = []
    for element in root.iter():
        foreground = parse_colour(_style(element).get("color", ""))
        if foreground is None:
            continue
        background = (255, 255, 255)  # the browser default when no ancestor sets one inline
        for node in (element, *element.ancestors()):
            style = _style(node)
            colour = parse_colour(style.get("background-color", "") or style.get("background", ""))
            if colour is not None:
                background = colour
                break
        ratio = contrast_ratio(foreground, background)
        if ratio < MIN_CONTRAST:
            hints.append(f"{element.snippet()} contrast {ratio:.2f}:1")
    return hints


def _style(element: Element) -> dict[str, str]:
    declarations = {}
    for part in element.get("style").split(";"):
        if ":" in part:
            key, value = part.split(":", 1)
            declarations[key.strip().lower()] = value.strip().lower()
    return declarations


_HEX = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})\b")
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")


def parse_colour(value: str) -> tuple[int, int, int] | None:
    value = value.strip().lower()
    if match := _HEX.search(value):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if match := _RGB.search(value):
        r, g, b = (min(int(match.group(i)), 255) for i in (1, 2, 3))
        return r, g, b
    return _NAMED_COLOURS.get(value.split(" ")[0]) if value else None


def _luminance(colour: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    return analyse(target_page(target, service=NAME, settings=settings))


register(ScanService(name=NAME, description="Accessibility score and findings (WCAG basics).", run=run))
