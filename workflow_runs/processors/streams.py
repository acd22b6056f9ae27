"""What a processor reads: the uploaded file as a bounded stream, never as one `bytes`.

An upload may be `WORKFLOW_RUNS_MAX_FILE_BYTES` (20 MB) and a worker runs several files at once, so a
processor reads at most `MAX_READ_BYTES` per call (`FileInput.read(-1)` is refused) and keeps what it
needs: counts, a header row, the top-level keys. `TextChunks` decodes UTF-8 chunk by chunk (a code
point cut by a chunk's end waits for the next one), `lines` splits text into bounded lines.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from orchestration.errors import JobError

CHUNK_BYTES = 64 * 1024
MAX_READ_BYTES = 1024 * 1024
_BOM = "\ufeff"


class FileInput:
    """A stored upload opened for reading: `read(n)` returns at most `n` bytes (0 < n ≤ MAX_READ_BYTES);
    `bytes_read` counts what was read. `seek`/`tell` are passed through (an HTTP client rewinds the file
    it streams and asks its length)."""

    def __init__(self, handle: IO[bytes] | Any, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._handle = handle
        self.chunk_bytes = chunk_bytes
        self.bytes_read = 0

    @classmethod
    def from_bytes(cls, data: bytes, *, chunk_bytes: int = CHUNK_BYTES) -> FileInput:
        """Bytes already in memory as an input (tests, a caller holding a small payload)."""
        return cls(io.BytesIO(data), chunk_bytes=chunk_bytes)

    def read(self, size: int = -1) -> bytes:
        if not 0 <= size <= MAX_READ_BYTES:
            raise ValueError(f"read at most {MAX_READ_BYTES} bytes at a time (asked for {size})")
        data = self._handle.read(size)
        self.bytes_read += len(data)
        return data

    def chunks(self) -> Iterator[bytes]:
        while data := self.read(self.chunk_bytes):
            yield data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


class TextChunks:
    """The file as UTF-8 text, chunk by chunk (a leading BOM dropped). An empty file or a byte that is
    not UTF-8 is the customer's file: a fatal `invalid_file`, naming the byte's position in the file."""

    def __init__(self, source: FileInput) -> None:
        self.source = source
        self.characters = 0

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        offset = 0
        first = True
        for data in self.source.chunks():
            held = len(decoder.getstate()[0])  # bytes of a code point the previous chunk cut
            try:
                text = decoder.decode(data)
            except UnicodeDecodeError as exc:
                raise _not_utf8(exc, offset - held + exc.start) from exc
            offset += len(data)
            if first and text:
                first = False
                text = text.removeprefix(_BOM)
            if text:
                self.characters += len(text)
                yield text
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:  # the file ends inside a code point
            raise _not_utf8(exc, offset - len(exc.object) + exc.start) from exc
        if offset == 0:
            raise JobError.fatal("the file is empty", code="invalid_file")


def _not_utf8(exc: UnicodeDecodeError, position: int) -> JobError:
    return JobError.fatal(f"the file is not UTF-8 text ({exc.reason} at byte {position})", code="invalid_file")


_EOL = re.compile(r"\r\n|\r|\n")


def lines(chunks: Iterable[str], *, max_chars: int) -> Iterator[str]:
    """`chunks` split after each `\\r\\n`, `\\r` or `\\n` (kept, as `csv` wants them), however the chunks cut
    the text; a line longer than `max_chars` is a fatal `invalid_file` (it would have to be held whole)."""
    carry = ""
    number = 1
    for chunk in chunks:
        text = carry + chunk
        start = 0
        for match in _EOL.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                break  # a `\r\n` may be cut here: wait for the next chunk
            yield text[start : match.end()]
            start = match.end()
            number += 1
        carry = text[start:]
        if len(carry) > max_chars:
            raise JobError.fatal(f"line {number} is longer than {max_chars} characters", code="invalid_file")
    if carry:
        yield carry
