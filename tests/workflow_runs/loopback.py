"""A loopback HTTP service for the webhook processor: scripted answers per uploaded file name."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_FILENAME = re.compile(rb'filename="([^"]*)"')


@dataclass
class Answer:
    status: int = 200
    delay: float = 0.0


@dataclass
class LoopbackService:
    """`script[name]` is the list of answers for successive requests about file `name` (the last one
    repeats); files without a script get 200 and a JSON echo. `hits` counts requests per file name."""

    server: ThreadingHTTPServer
    script: dict[str, list[Answer]] = field(default_factory=dict)
    default: Answer = field(default_factory=Answer)
    hits: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/process"

    def answer_for(self, name: str) -> Answer:
        with self.lock:
            self.started[name] += 1
            answers = self.script.get(name)
            if not answers:
                return self.default
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.hits[name] += by


def start_loopback() -> LoopbackService:
    service: LoopbackService

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _FILENAME.search(body)
            name = match.group(1).decode() if match else ""
            answer = service.answer_for(name)
            if answer.delay:
                time.sleep(answer.delay)
            payload = json.dumps({"file": name, "bytes": len(body)}).encode()
            delivered = int(answer.status == 200)
            # Counted before the answer goes out: a test may look as soon as its client has read it.
            service.count(name, delivered)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, killed worker)
                service.count(name, -delivered)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    service = LoopbackService(server=server)
    threading.Thread(target=server.serve_forever, name="loopback-http", daemon=True).start()
    return service
