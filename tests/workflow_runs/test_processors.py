"""Processors on their own: outputs, invalid files (fatal), and the webhook's error classification."""

import pytest

from orchestration.errors import ErrorKind, JobError
from workflow_runs.processors import available, get_processor
from workflow_runs.processors.registry import ConfigError
from workflow_runs.processors.streams import FileInput

from .loopback import Answer


def run(name, content, config=None, filename="f.txt"):
    processor = get_processor(name)
    return processor.process(filename, FileInput.from_bytes(content), processor.validate_config(config or {}))


def failure(name, content, config=None, filename="f.txt"):
    with pytest.raises(JobError) as caught:
        run(name, content, config, filename)
    return caught.value


def test_the_registry_ships_the_builtin_processors():
    assert {"webhook", "text_stats", "json_validate", "csv_validate"} <= set(available())
    with pytest.raises(LookupError):
        get_processor("nope")


def test_text_stats_counts_lines_words_and_frequent_words():
    output = run("text_stats", b"The cat\nthe dog\n", {"top_words": 1})
    assert (output["lines"], output["words"], output["characters"]) == (2, 4, 16)
    assert output["top_words"] == [["the", 2]]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("text_stats", b""),
        ("text_stats", b"\xff\xfe\xfa"),
        ("json_validate", b"{1"),
        ("json_validate", b"[]"),
        ("csv_validate", b"a,b\n1\n"),
        ("csv_validate", b'a\n"x'),
    ],
)
def test_invalid_files_are_fatal(name, content):
    config = {"required_keys": ["id"]} if name == "json_validate" else None
    error = failure(name, content, config)
    assert (error.kind, error.code) == (ErrorKind.FATAL, "invalid_file")


def test_json_and_csv_validation_describe_valid_files():
    assert run("json_validate", b'{"id": 1, "x": 2}', {"required_keys": ["id"]})["keys"] == ["id", "x"]
    assert run("csv_validate", b"id;name\n1;a\n", {"delimiter": ";", "required_columns": ["id"]})["rows"] == 1


def test_configs_are_validated():
    with pytest.raises(ConfigError) as caught:
        get_processor("webhook").validate_config({"url": "file:///etc/passwd", "timeout_seconds": 0, "x": 1})
    assert set(caught.value.fields) == {"url", "timeout_seconds", "x"}


def test_webhook_posts_the_file_and_stores_the_json_answer(loopback):
    output = run("webhook", b"hello", {"url": loopback.url}, filename="doc.txt")
    assert output["status"] == 200
    assert output["body"]["file"] == "doc.txt"
    assert loopback.hits["doc.txt"] == 1


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, ErrorKind.RETRYABLE, "rate_limited"),
        (500, ErrorKind.RETRYABLE, "upstream_error"),
        (503, ErrorKind.RETRYABLE, "upstream_error"),
        (400, ErrorKind.FATAL, "rejected"),
        (422, ErrorKind.FATAL, "rejected"),
    ],
)
def test_webhook_classifies_http_errors(loopback, status, kind, code):
    loopback.default = Answer(status)
    error = failure("webhook", b"x", {"url": loopback.url})
    assert (error.kind, error.code) == (kind, code)


def test_webhook_timeouts_and_refused_connections_are_retryable(loopback):
    loopback.default = Answer(200, delay=2)
    timeout = failure("webhook", b"x", {"url": loopback.url, "timeout_seconds": 0.2})
    port = loopback.server.server_address[1]
    loopback.server.shutdown()
    loopback.server.server_close()
    refused = failure("webhook", b"x", {"url": f"http://127.0.0.1:{port}/process"})

    assert (timeout.kind, timeout.code) == (ErrorKind.RETRYABLE, "timeout")
    assert (refused.kind, refused.code) == (ErrorKind.RETRYABLE, "connection_error")
