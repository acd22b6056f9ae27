"""The API's orjson renderer writes the bytes DRF's own JSON renderer writes."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer
from rest_framework.serializers import Serializer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from core.renderers import JSONRenderer, StoredJSON

UTC = dt.UTC

PAYLOADS = {
    "utc datetime with microseconds": {"at": dt.datetime(2026, 12, 3, 18, 24, 58, 123456, tzinfo=UTC)},
    "utc datetime on the second": {"at": dt.datetime(2026, 12, 3, 18, 24, 58, tzinfo=UTC)},
    "zoneinfo utc": {"at": dt.datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))},
    "an offset": {"at": dt.datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))},
    "naive": {"at": dt.datetime(2026, 7, 1, 9, 30, 1, 5)},
    "date and time": {"d": dt.date(2026, 2, 28), "t": dt.time(23, 59, 59, 999999)},
    "uuid": {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    "decimal": {"price": decimal.Decimal("12.50")},
    "timedelta": {"took": dt.timedelta(seconds=90, microseconds=5)},
    "lazy text": {"message": gettext_lazy("This field is required.")},
    "serializer containers": ReturnDict(
        {"results": ReturnList([{"a": 1}], serializer=Serializer())}, serializer=Serializer()
    ),
    "tuples, nesting, unicode": {"k": ("é", "漢字", "emoji 🎉", ["nested", {"x": None}]), "b": True, "f": 0.1},
    "non-string keys": {1: "one", None: "none", 2.5: "two and a half"},
    "line and paragraph separators": {"s": "a\u2028b\u2029c"},
    "control characters": {"s": 'tab\tnul\x00bell\x07quote"backslash\\'},
    "an integer past 64 bits": {"n": 2**70, "m": -(2**65)},
    "a list at the top": [1, "two", None, {"three": 3.5}],
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_the_bytes_are_drfs(payload):
    assert JSONRenderer().render(payload) == DrfJSONRenderer().render(payload)


def test_nothing_renders_as_nothing():
    assert JSONRenderer().render(None) == DrfJSONRenderer().render(None) == b""


def test_a_stored_json_document_is_embedded_as_it_is_stored():
    stored = '{"score": 87, "nested": {"at": "x", "list": [1, 2]}}'  # PostgreSQL's jsonb text
    body = JSONRenderer().render({"result": StoredJSON(stored), "n": 1})
    assert stored.encode() in body
    assert json.loads(body) == {"result": json.loads(stored), "n": 1}


def test_a_fragment_survives_the_fallback_to_drfs_renderer():
    body = JSONRenderer().render({"result": StoredJSON('{"a": [1]}'), "big": 2**70})
    assert json.loads(body) == {"result": {"a": [1]}, "big": 2**70}


def test_pretty_printing_asked_for_is_drfs():
    payload = {"a": [1, {"b": dt.datetime(2026, 1, 1, tzinfo=UTC)}]}
    media_type = "application/json; indent=2"
    assert JSONRenderer().render(payload, media_type) == DrfJSONRenderer().render(payload, media_type)
