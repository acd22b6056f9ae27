"""The loopback HTTP server speaks enough HTTP/1.1 for the phase and the benchmark, and refuses the rest."""

import json
import socket

import pytest

from campaigns.loopback.http_server import BACKLINKS, page_for
from campaigns.phases.http_keyword_validation import FetchSettings, fetch_batch


def exchange(port: int, *chunks: bytes) -> bytes:
    """Send a request in pieces (as a slow client would) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
        received = b""
        while data := sock.recv(65536):
            received += data
    return received


def host_in_bucket(bucket: int) -> str:
    return next(f"h{i}.test" for i in range(1000) if page_for(f"h{i}.test").status == {0: 404, 1: 301, 2: 200}[bucket])


def test_a_page_arrives_whole_even_when_the_request_head_comes_in_pieces(http_server):
    host = host_in_bucket(2)
    response = exchange(http_server.port, b"GET / HTTP/1.1\r\nHo", f"st: {host}\r\n".encode(), b"\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in head
    assert body.decode() == page_for(host).body
    assert f"Content-Length: {len(body)}".encode() in head


def test_head_answers_without_a_body_and_redirects_carry_their_location(http_server):
    head_only = exchange(http_server.port, f"HEAD / HTTP/1.1\r\nHost: {host_in_bucket(2)}\r\n\r\n".encode())
    assert head_only.startswith(b"HTTP/1.1 200 OK") and head_only.endswith(b"\r\n\r\n")
    moved = exchange(http_server.port, f"GET / HTTP/1.1\r\nHost: {host_in_bucket(1)}\r\n\r\n".encode())
    assert moved.startswith(b"HTTP/1.1 301 Moved Permanently") and b"Location: /landing\r\n" in moved


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"nonsense\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400"),  # no Host
        (b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70_000, b"405"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 200_000, b"431"),  # a head that never ends
    ],
)
def test_malformed_requests_get_a_4xx_and_the_connection_closes(http_server, request_bytes, status):
    assert exchange(http_server.port, request_bytes).startswith(b"HTTP/1.1 " + status)


def test_the_phase_fetcher_reads_what_page_for_says_each_host_serves(http_server):
    names = [f"lead{i}.test" for i in range(60)]
    fetches = fetch_batch(
        [(name, ["127.0.0.1"]) for name in names], [FetchSettings(port=http_server.port)], ["pricing"]
    )
    for name, fetch in zip(names, fetches, strict=True):
        page = page_for(name, "/landing" if page_for(name).location else "/")
        assert (fetch.status, fetch.status_code, fetch.title) == ("ok", page.status, page.title)
        assert fetch.keyword_hits == ({"pricing": 1} if "pricing" in page.body else {})


def post(port: int, path: str, body: bytes, *pieces: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return exchange(port, head, *(pieces or (body,)))


def test_a_flaky_path_answers_503_for_its_first_n_requests_then_200(http_server):
    statuses = [exchange(http_server.port, b"GET /flaky/2/t1 HTTP/1.1\r\nHost: a.test\r\n\r\n")[9:12] for _ in range(3)]
    assert statuses == [b"503", b"503", b"200"]
    assert post(http_server.port, "/flaky/2/t2", b"a file")[9:12] == b"503", "another tag counts on its own"
    assert exchange(http_server.port, b"GET /flaky/x HTTP/1.1\r\nHost: a.test\r\n\r\n")[9:12] == b"404"


def test_the_backlink_provider_fails_once_per_url_and_reads_a_body_sent_in_pieces(http_server):
    body = json.dumps({"url": "http://127.0.0.1/one", "keywords": []}).encode()
    first = post(http_server.port, "/provider/backlinks", body, body[:10], body[10:])
    assert first.startswith(b"HTTP/1.1 503")
    answer = post(http_server.port, "/provider/backlinks", body)
    assert answer.startswith(b"HTTP/1.1 200") and b"Content-Type: application/json" in answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"backlinks": BACKLINKS, "total": len(BACKLINKS)}
    other = json.dumps({"url": "http://127.0.0.1/two"}).encode()
    assert post(http_server.port, "/provider/backlinks", other).startswith(b"HTTP/1.1 503")
    assert post(http_server.port, "/provider/backlinks", b"not json").startswith(b"HTTP/1.1 400")
