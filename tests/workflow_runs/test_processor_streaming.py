"""Processors read an upload as a bounded stream: the same answers as over the whole text whatever the
chunks cut (code points, words, `\\r\\n`, a BOM), reads of at most one chunk, and memory that does not
grow with the file (a 4 MB file under 1 MB of Python allocations, tracemalloc)."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.errors import JobError
from workflow_runs.processors import get_processor
from workflow_runs.processors.streams import CHUNK_BYTES, MAX_READ_BYTES, FileInput

BIG = 4 * 1024 * 1024  # 64 chunks
PEAK_LIMIT = 1024 * 1024  # what processing may allocate: a quarter of the file (a whole read is more)


def whole_text_stats(content: bytes, top: int) -> dict:
    """The reference: text_stats as it was computed over the whole decoded text."""
    text = content.decode("utf-8-sig")
    words = [word.lower() for word in re.findall(r"\w+", text)]
    return {
        "lines": len(text.splitlines()),
        "words": len(words),
        "characters": len(text),
        "bytes": len(content),
        "top_words": [[word, count] for word, count in Counter(words).most_common(top)],
    }


def process(name: str, content: bytes, config: dict | None = None, chunk_bytes: int = CHUNK_BYTES) -> dict:
    processor = get_processor(name)
    source = FileInput.from_bytes(content, chunk_bytes=chunk_bytes)
    return processor.process("f.txt", source, processor.validate_config(config or {}))


texts = st.text(alphabet=st.sampled_from(list('ab Zé€😀\r\n\t\v\u2028_1-,"')), max_size=120)


@settings(max_examples=300, deadline=None)
@given(text=texts, bom=st.booleans(), chunk=st.integers(1, 9))
def test_text_stats_over_chunks_equals_the_whole_text(text, bom, chunk):
    content = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    if not content:
        return
    # Ties in most_common keep first-seen order, the same in both.
    assert process("text_stats", content, {"top_words": 100}, chunk) == whole_text_stats(content, 100)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(texts, min_size=1, max_size=3), min_size=1, max_size=6), chunk=st.integers(1, 9))
def test_csv_validate_over_chunks_reads_the_rows_csv_reads(rows, chunk):
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    content = buffer.getvalue().encode()
    expected = list(csv.reader(io.StringIO(buffer.getvalue(), newline=""), strict=True))
    try:
        output = process("csv_validate", content, chunk_bytes=chunk)
    except JobError as exc:
        assert exc.code == "invalid_file"
        assert not expected or any(len(row) != len(expected[0]) for row in expected) or not expected[0], exc
    else:
        assert output == {"valid": True, "columns": expected[0], "rows": len(expected) - 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(document=json_values, chunk=st.integers(1, 9))
def test_json_validate_over_chunks_describes_the_document(document, chunk):
    output = process("json_validate", json.dumps(document, ensure_ascii=False).encode(), chunk_bytes=chunk)
    assert output == {
        "valid": True,
        "type": type(document).__name__,
        "keys": sorted(document)[:100] if isinstance(document, dict) else None,
        "items": len(document) if isinstance(document, list | dict) else None,
    }


def test_an_invalid_byte_in_a_later_chunk_is_named_by_its_place_in_the_file():
    content = "é".encode() * 100 + b"\xff" + b"x" * 10
    for name in ("text_stats", "csv_validate"):
        with pytest.raises(JobError) as caught:
            process(name, content, chunk_bytes=7)
        assert caught.value.code == "invalid_file"
        assert "at byte 200" in caught.value.message, caught.value.message
    with pytest.raises(JobError) as caught:
        process("text_stats", "é".encode()[:1], chunk_bytes=7)  # the file ends inside a code point
    assert "at byte 0" in caught.value.message


def test_a_csv_line_longer_than_the_bound_is_an_invalid_file_not_a_whole_read():
    with pytest.raises(JobError) as caught:
        process("csv_validate", b"a" * (1024 * 1024 + 1))
    assert caught.value.code == "invalid_file" and "longer than" in caught.value.message
    assert process("csv_validate", b"a" * 100_000 + b"\n")["rows"] == 0


def test_deeply_nested_json_is_an_invalid_file():
    with pytest.raises(JobError) as caught:
        process("json_validate", b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.code == "invalid_file" and "nested deeper" in caught.value.message


def test_a_processor_may_not_read_the_whole_file_at_once():
    source = FileInput.from_bytes(b"x" * 10)
    for size in (-1, MAX_READ_BYTES + 1):
        with pytest.raises(ValueError):
            source.read(size)
    assert source.read(MAX_READ_BYTES) == b"x" * 10


# --- memory ---------------------------------------------------------------------------------------------


class RecordingFile(io.RawIOBase):
    """A BIG-byte file made on the fly (nothing the size of the file is ever allocated) that records the
    size of every read."""

    def __init__(self, line: bytes, size: int = BIG, head: bytes = b"", tail: bytes = b"") -> None:
        self.head, self.line, self.tail, self.size = head, line, tail, size
        self.block = line * (2 * MAX_READ_BYTES // len(line) + 2)  # slices of it are the body
        self.position = 0
        self.reads: list[int] = []

    def _byte_at(self, start: int, count: int) -> bytes:
        out = bytearray()
        body_end = self.size - len(self.tail)
        while count and start < self.size:
            if start < len(self.head):
                piece = self.head[start : start + count]
            elif start >= body_end:
                piece = self.tail[start - body_end : start - body_end + count]
            else:
                offset = (start - len(self.head)) % len(self.line)
                piece = self.block[offset : offset + min(count, body_end - start, MAX_READ_BYTES)]
            out += piece
            start += len(piece)
            count -= len(piece)
        return bytes(out)

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        data = self._byte_at(self.position, self.size - self.position if size < 0 else size)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: offset, 1: self.position + offset, 2: self.size + offset}[whence]
        return self.position

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True


def measured(name: str, handle: RecordingFile, config: dict | None = None) -> tuple[dict, int]:
    processor = get_processor(name)
    config = processor.validate_config(config or {})
    tracemalloc.start()
    try:
        output = processor.process("big.txt", FileInput(handle), config)
        peak = tracemalloc.get_traced_memory()[1]
        print(f"{name}: peak {peak} bytes over a {handle.size}-byte file")
    finally:
        tracemalloc.stop()
    return output, peak


def test_text_stats_counts_a_big_file_in_bounded_memory():
    handle = RecordingFile(b"the quick brown fox jumps over the lazy dog\n")
    output, peak = measured("text_stats", handle, {"top_words": 2})

    lines = BIG // 44 + 1  # the last line is cut
    assert output["bytes"] == output["characters"] == BIG
    assert output["lines"] == lines
    assert output["top_words"][0] == ["the", 2 * (BIG // 44) + 1]
    assert peak < PEAK_LIMIT, peak
    assert max(handle.reads) == CHUNK_BYTES


def test_csv_validate_reads_a_big_file_in_bounded_memory():
    handle = RecordingFile(b"1,alpha,3.5\r\n", head=b"id,name,score\r\n", tail=b"")
    handle.size = len(handle.head) + 13 * (BIG // 13)
    output, peak = measured("csv_validate", handle, {"required_columns": ["id"]})

    assert output == {"valid": True, "columns": ["id", "name", "score"], "rows": BIG // 13}
    assert peak < PEAK_LIMIT, peak
    assert max(handle.reads) == CHUNK_BYTES


def test_json_validate_parses_a_big_file_in_bounded_memory():
    item = b'{"id": 12345, "tags": ["a", "b"]},'
    count = BIG // len(item)
    handle = RecordingFile(item, head=b'{"id": 1, "items": [', tail=b'{"id": 0}]}')
    handle.size = len(handle.head) + len(item) * count + len(handle.tail)
    output, peak = measured("json_validate", handle, {"required_keys": ["id", "items"]})

    assert output == {"valid": True, "type": "dict", "keys": ["id", "items"], "items": 2}
    assert peak < PEAK_LIMIT, peak
    assert max(handle.reads) <= CHUNK_BYTES


@pytest.fixture
def sink() -> Iterator[dict]:
    """A webhook that reads what it is sent 64 KB at a time and keeps only the count."""
    received: dict = {"bytes": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            left = int(self.headers["Content-Length"])
            while left:
                left -= len(self.rfile.read(min(left, 65536)))
            received["bytes"] = int(self.headers["Content-Length"])
            payload = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received["url"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield received
    server.shutdown()
    server.server_close()


def test_the_webhook_streams_a_big_file_with_its_length(sink):
    handle = RecordingFile(b"0123456789abcdef")
    output, peak = measured("webhook", handle, {"url": sink["url"]})

    assert output["status"] == 200 and output["body"] == {"ok": True}
    assert sink["bytes"] > BIG  # the whole file and the multipart framing, sent with a Content-Length
    assert peak < PEAK_LIMIT, peak
    assert max(handle.reads) <= CHUNK_BYTES
