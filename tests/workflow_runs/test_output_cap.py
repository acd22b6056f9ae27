"""What a file stores is capped (`RELAY_MAX_OUTPUT_BYTES`, measured as compact UTF-8 JSON): at the cap it
is kept, one byte over fails the file with a fatal `output_too_large` (released, not charged); a
webhook's answer is cut to fit instead, marked `body_truncated`."""

import pytest

from orchestration.errors import ErrorKind, JobError
from workflow_runs.billing import PLATFORM_CODES
from workflow_runs.processors import webhook
from workflow_runs.processors.output import checked_output, output_bytes

LIMIT = 1000


def output_of(size: int) -> dict:
    output = {"text": ""}
    output["text"] = "é" * ((size - output_bytes(output)) // 2) + "x" * ((size - output_bytes(output)) % 2)
    assert output_bytes(output) == size
    return output


def test_an_output_at_the_cap_is_kept_and_one_byte_over_fails_for_good():
    assert checked_output(output_of(LIMIT), max_bytes=LIMIT) == output_of(LIMIT)
    with pytest.raises(JobError) as caught:
        checked_output(output_of(LIMIT + 1), max_bytes=LIMIT)
    assert (caught.value.kind, caught.value.code) == (ErrorKind.FATAL, "output_too_large")
    assert f"{LIMIT + 1} bytes" in caught.value.message
    assert "output_too_large" in PLATFORM_CODES


def test_text_postgresql_refuses_is_an_invalid_file_and_nan_an_invalid_output():
    with pytest.raises(JobError) as nul:
        checked_output({"columns": ["a\x00b"]}, max_bytes=LIMIT)
    with pytest.raises(JobError) as nan:
        checked_output({"x": float("nan")}, max_bytes=LIMIT)
    assert (nul.value.code, "columns/0" in nul.value.message) == ("invalid_file", True)
    assert nan.value.code == "invalid_output"


@pytest.mark.parametrize("extra", [0, 1])
def test_a_webhook_answer_is_stored_whole_up_to_the_cap_and_cut_past_it(settings, extra):
    settings.RELAY_MAX_OUTPUT_BYTES = 4096
    cap = webhook.max_body_bytes()
    body = b'"' + b"a" * (cap - 2 + extra) + b'"'
    output = webhook.stored_output(
        status=200, content_type="application/json", body=body[:cap], truncated=len(body) > cap
    )
    assert output["body_truncated"] is bool(extra)
    assert output["body"] == ("a" * (cap - 2) if not extra else body[:cap].decode())
    assert output_bytes(output) <= 4096


def test_a_webhook_answer_full_of_escapes_is_cut_to_fit_and_nul_is_not_stored(settings):
    settings.RELAY_MAX_OUTPUT_BYTES = 4096
    body = b"\x01\x00" * (webhook.max_body_bytes() // 2)
    output = webhook.stored_output(status=200, content_type="text/plain", body=body, truncated=True)
    assert output["body_truncated"] is True and "\x00" not in output["body"]
    assert 4000 < output_bytes(output) <= 4096
    unstorable = webhook.stored_output(
        status=200, content_type="", body=b'{"a": "\\u0000", "b": 1e999}', truncated=False
    )
    assert isinstance(unstorable["body"], str)  # kept as text: PostgreSQL refuses \u0000 and Infinity
