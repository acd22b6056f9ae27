"""A request body over `RELAY_MAX_REQUEST_BYTES` is a 413 in the envelope while it streams in: at once
when its Content-Length says so, after the limit when it is sent chunked; nothing reaches the disk.
10,000 tiny files (the most one request may carry) still start a run. Real uvicorn processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from knox.models import AuthToken

from devstack.web import WebProcess, start_web
from workflow_runs.models import WorkflowRun

from ..helpers import make_user
from ..workflow_runs.factories import fund, make_template

pytestmark = pytest.mark.django_db(transaction=True)

BOUNDARY = "relay-test-boundary"
SMALL_LIMIT = 8_000_000


def usage(root: Path) -> tuple[int, int]:
    """Files and bytes under `root` (the web process's temporary and media directories)."""
    files = [path for path in root.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"tmp": tmp_path_factory.mktemp("web-tmp"), "media": tmp_path_factory.mktemp("web-media")}


def _web(dirs: dict[str, Path], **env: str) -> WebProcess:
    return start_web(env={"TMPDIR": str(dirs["tmp"]), "RELAY_MEDIA_ROOT": str(dirs["media"]), **env})


@pytest.fixture(scope="module")
def web(django_db_setup: None, dirs: dict[str, Path]) -> Iterator[WebProcess]:
    """The default limit (200 MB)."""
    server = _web(dirs)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_limit_web(django_db_setup: None, dirs: dict[str, Path]) -> Iterator[WebProcess]:
    server = _web(dirs, RELAY_MAX_REQUEST_BYTES=str(SMALL_LIMIT))
    yield server
    server.stop()


def part_head(name: str, filename: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    content_type = "Content-Type: text/plain\r\n" if filename else ""
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{content_type}\r\n".encode()


def request_head(token: str, **headers: str) -> bytes:
    lines = [
        "POST /api/workflow-runs HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Token {token}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(line.split(":")[1]) for line in head if line.lower().startswith("content-length:"))
    return int(head[0].split(" ")[1]), json.loads(await reader.readexactly(length))


@pytest.fixture
def token(tenant) -> str:
    fund(tenant, purchased=20_000)
    return AuthToken.objects.create(make_user(tenant=tenant))[1]


def test_an_upload_declared_over_the_limit_is_413_at_once_and_nothing_is_read(web, dirs, tenant, token):
    template = make_template(tenant=tenant, credits_per_run=1)
    before = usage(dirs["tmp"]), usage(dirs["media"])

    async def scenario() -> tuple[int, dict, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", web.port)
        answer = asyncio.ensure_future(read_answer(reader))
        started = time.monotonic()
        writer.write(request_head(token, Content_Length=str(250_000_000)))
        writer.write(part_head("template") + str(template.pk).encode() + b"\r\n" + part_head("files", "big.txt"))
        writer.write(b"x" * 65536)  # the rest (250 MB) is never sent: the answer must not wait for it
        with contextlib.suppress(ConnectionError):  # the server may close as soon as it answered
            await writer.drain()
        async with asyncio.timeout(2):
            status, body = await answer
        elapsed = time.monotonic() - started
        writer.close()
        return status, body, elapsed

    status, body, elapsed = asyncio.run(scenario())

    assert status == 413 and body["error"]["code"] == "request_too_large", body
    assert "200 MB" in body["error"]["message"]
    assert elapsed < 2
    assert (usage(dirs["tmp"]), usage(dirs["media"])) == before
    assert not WorkflowRun.objects.exists()


def test_a_chunked_upload_is_cut_off_once_it_passes_the_limit(small_limit_web, dirs, tenant, token):
    template = make_template(tenant=tenant, credits_per_run=1)
    before = usage(dirs["tmp"]), usage(dirs["media"])

    async def scenario() -> tuple[int, dict, int, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", small_limit_web.port)
        answer = asyncio.ensure_future(read_answer(reader))  # read while sending: the answer comes early
        writer.write(request_head(token, Transfer_Encoding="chunked"))
        first = part_head("template") + str(template.pk).encode() + b"\r\n" + part_head("files", "big.txt")
        chunks = [first] + [b"x" * 1_000_000] * 100  # 100 MB, never all sent if the limit holds
        sent, started = 0, time.monotonic()
        try:
            for chunk in chunks:
                if answer.done():
                    break
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
                sent += len(chunk)
        except ConnectionError:
            pass  # the server stopped reading and closed the connection
        async with asyncio.timeout(5):
            status, body = await answer
        elapsed = time.monotonic() - started
        writer.close()
        return status, body, sent, elapsed

    status, body, sent, elapsed = asyncio.run(scenario())

    assert status == 413 and body["error"]["code"] == "request_too_large", body
    assert sent < 60_000_000, sent  # cut off near the limit (8 MB), well before the 100 MB body ended
    assert elapsed < 5
    time.sleep(0.5)  # the spooled part is dropped when the request ends
    assert (usage(dirs["tmp"]), usage(dirs["media"])) == before
    assert not WorkflowRun.objects.exists()


def test_ten_thousand_tiny_files_still_start_a_run(web, tenant, token):
    template = make_template(tenant=tenant, credits_per_run=1)
    body = part_head("template") + str(template.pk).encode() + b"\r\n"
    body += b"".join(part_head("files", f"f{n}.txt") + b"x\r\n" for n in range(10_000))
    body += f"--{BOUNDARY}--\r\n".encode()

    async def scenario() -> tuple[int, dict]:
        reader, writer = await asyncio.open_connection("127.0.0.1", web.port)
        writer.write(request_head(token, Content_Length=str(len(body))) + body)
        await writer.drain()
        async with asyncio.timeout(240):
            answer = await read_answer(reader)
        writer.close()
        return answer

    status, answer = asyncio.run(scenario())

    assert status == 201, answer
    assert answer["totalJobs"] == 10_000
    assert WorkflowRun.objects.get(pk=answer["id"]).files.count() == 10_000
