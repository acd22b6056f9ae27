"""The page checks are pure functions of a fetched page: known pages, known findings."""

from devstack import scan_pages as pages
from scans.checks import accessibility, meta, schema, security_headers
from scans.checks.fetch import Page


def page(html: str, headers: dict[str, str] | None = None, url: str = "http://site.test/page") -> Page:
    return Page(
        url=url, final_url=url, status=200, headers={k.lower(): v for k, v in (headers or {}).items()}, html=html
    )


def rules(result: dict) -> dict[str, int]:
    return {finding["rule"]: finding["count"] for finding in result["findings"]}


def test_accessibility_finds_nothing_on_a_clean_page():
    result = accessibility.analyse(page(pages.GOOD))
    assert (result["score"], result["findings"]) == (100, [])


def test_accessibility_reports_each_failure_and_scores_it():
    result = accessibility.analyse(page(pages.BAD))
    assert rules(result) == {"html-lang": 1, "image-alt": 2, "form-label": 2, "heading-order": 1, "color-contrast": 2}
    assert result["score"] == 100 - 10 - 10 - 10 - 5 - 6
    images = next(f for f in result["findings"] if f["rule"] == "image-alt")["elements"]
    assert images == ['<img src="/a.png">', '<img src="/c.png">']


def test_contrast_ratio_matches_wcag_reference_values():
    assert round(accessibility.contrast_ratio((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert round(accessibility.contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)), 2) == 4.48
    assert accessibility.parse_colour("rgb(10, 20, 30)") == (10, 20, 30)
    assert accessibility.parse_colour("#abc") == (0xAA, 0xBB, 0xCC)


def test_meta_reads_title_description_canonical_open_graph_and_keywords():
    result = meta.analyse(page(pages.GOOD, url="http://site.test/good"), keywords=("spades", "lawnmower"))
    assert result["title"] == "Relay garden tools and supplies"
    assert result["canonical"] == "http://site.test/good"
    assert result["indexable"] is True
    assert set(result["openGraph"]) == {"og:title", "og:type", "og:image", "og:url"}
    assert result["headings"]["h1"] == {"count": 1, "texts": ["Garden tools"]}
    spades, lawnmower = result["keywords"]
    assert (spades["inBody"], spades["inDescription"], spades["inTitle"]) == (True, True, False)
    assert (lawnmower["inBody"], lawnmower["occurrences"]) == (False, 0)
    assert [f["code"] for f in result["findings"]] == ["keyword-absent"]


def test_meta_flags_a_bare_page():
    result = meta.analyse(page(pages.BAD))
    assert {f["code"] for f in result["findings"]} == {
        "title-missing",
        "description-missing",
        "canonical-missing",
        "robots-noindex",
        "open-graph-incomplete",
    }
    assert result["robots"] == ["nofollow", "noindex"]
    assert result["indexable"] is False


def test_schema_extracts_json_ld_microdata_and_rdfa_and_validates_required_properties():
    result = schema.analyse(page(pages.SCHEMA))
    found = {(item["format"], item["type"]): item for item in result["items"]}
    assert set(found) == {
        ("json-ld", "Article"),
        ("json-ld", "WebSite"),
        ("microdata", "Product"),
        ("microdata", "Event"),
        ("rdfa", "Person"),
    }
    assert found[("json-ld", "Article")]["valid"] is True
    assert found[("json-ld", "WebSite")]["missing"] == ["url"]
    assert found[("microdata", "Product")]["properties"] == ["name", "offers"]  # the Offer keeps its own name
    assert found[("microdata", "Product")]["valid"] is True
    assert found[("microdata", "Event")]["missing"] == ["startDate", "location"]
    assert found[("rdfa", "Person")]["properties"] == ["name", "url"]
    assert (result["valid"], result["invalid"]) == (3, 2)
    assert len(result["errors"]) == 1 and "invalid JSON-LD" in result["errors"][0]


def test_schema_alternatives_are_satisfied_by_any_one():
    assert schema.validate("Product", {"name": "x", "aggregateRating": {"ratingValue": 4}}) == []
    assert schema.validate("Product", {"name": "x"}) == ["offers or review or aggregateRating"]
    assert schema.validate("UnknownThing", {}) == []


def test_security_headers_scores_present_protections():
    good = security_headers.analyse(page(pages.GOOD, pages.GOOD_HEADERS))
    assert {name for name, h in good["headers"].items() if h["ok"]} == {
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "permissions-policy",
    }
    assert good["score"] == 83  # HSTS cannot apply to a plain-HTTP page
    bad = security_headers.analyse(page(pages.BAD, {"Server": "Apache/2.4.1", "X-Content-Type-Options": "sniff"}))
    assert bad["score"] == 0
    messages = {f["header"]: f["message"] for f in bad["findings"]}
    assert "nosniff" in messages["x-content-type-options"]
    assert "Apache/2.4.1" in messages["server"]


def test_frame_ancestors_counts_as_framing_protection():
    result = security_headers.analyse(page("", {"Content-Security-Policy": "frame-ancestors 'none'"}))
    assert result["headers"]["x-frame-options"]["ok"] is True
