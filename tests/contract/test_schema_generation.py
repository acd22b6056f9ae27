"""The OpenAPI schema generates without a warning and validates as OpenAPI 3.1: a view drf-spectacular
cannot document (an unknown serializer, a colliding name) fails here before the contract test runs."""

import os

from django.core.management import call_command


def test_the_schema_generates_without_warnings_and_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


def test_a_required_text_field_documents_what_trimming_leaves_blank():
    """DRF strips what Python's str.strip() strips (\\x1c-\\x1f and \\x85 too) before its non-blank rule;
    the request schema's pattern refuses the same names, so schemathesis (ECMA `\\s`) sends none."""
    import re

    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    pattern = re.compile(schema["components"]["schemas"]["DnsPersonaRequest"]["properties"]["name"]["pattern"])
    for blank in ["\x1f", "\x1c\x85", " \t", "\u3000"]:
        assert blank.strip() == "" and not pattern.search(blank), repr(blank)
    assert pattern.search(" a ")
