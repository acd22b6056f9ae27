"""Security headers of the page's response: which protections are present and which are missing."""

from __future__ import annotations

from typing import Any

from .fetch import Page, target_page
from .registry import CheckSettings, ScanService, ScanTarget, register

NAME = "security_headers"
HEADERS = {
    "strict-transport-security": "Forces HTTPS on later visits.",
    "content-security-policy": "Limits where scripts, styles and frames may come from.",
    "x-content-type-options": "Stops MIME sniffing (should be `nosniff`).",
    "x-frame-options": "Stops click-jacking (or CSP `frame-ancestors`).",
    "referrer-policy": "Limits what the Referer header leaks.",
    "permissions-policy": "Turns off browser features the page does not use.",
}


def analyse(page: Page) -> dict[str, Any]:
    headers = page.headers
    csp = headers.get("content-security-policy", "")
    https = page.final_url.startswith("https://")
    results: dict[str, dict[str, Any]] = {}
    findings: list[dict[str, str]] = []
    for name, purpose in HEADERS.items():
        value = headers.get(name, "")
        present = bool(value)
        if name == "x-frame-options" and not present and "frame-ancestors" in csp:
            present = True  # the modern equivalent
        problem = ""
        if name == "strict-transport-security" and not https:
            problem = "HSTS only applies to pages served over HTTPS."
        elif not present:
            problem = f"Missing. {purpose}"
        elif name == "x-content-type-options" and value.strip().lower() != "nosniff":
            problem = f"Should be `nosniff`, is {value!r}."
        elif name == "strict-transport-security" and "max-age=0" in value.replace(" ", "").lower():
            problem = "max-age=0 switches HSTS off."
        results[name] = {"present": present, "value": value, "ok": present and not problem}
        if problem:
            findings.append({"header": name, "message": problem})
    for leaky in ("server", "x-powered-by"):
        if headers.get(leaky) and any(ch.isdigit() for ch in headers[leaky]):
            findings.append({"header": leaky, "message": f"Reveals software versions: {headers[leaky]!r}."})
    passed = sum(1 for result in results.values() if result["ok"])
    return {"https": https, "headers": results, "score": round(100 * passed / len(HEADERS)), "findings": findings}


def run(target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    return analyse(target_page(target, service=NAME, settings=settings))


register(
    ScanService(name=NAME, description="HSTS, CSP, X-Content-Type-Options, framing, referrer and permissions.", run=run)
)
