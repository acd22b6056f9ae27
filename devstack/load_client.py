"""An open-loop HTTP and SSE load client for `bench/load.py`, run as its own process (no Django):
`python -m devstack.load_client http|sse PLAN.json OUT.json`.

`http`: requests are scheduled at fixed offered rates (reads and writes each on their own clock),
whatever the answers do, so a slow server cannot slow the client down (no coordinated omission): a
request's latency runs from the moment it was due, and its wait for one of `max_in_flight` slots (the
bound on what the client holds open) counts in it. `send_lag` is how late the client itself got to a
request (its own event loop falling behind), so a late client is not mistaken for a slow server.

`sse`: opens every subscriber (`open_concurrency` at a time), prints one JSON line `{"connected": n}`
on stdout once each has its stream's preamble (the server joined the Redis subscription before it
sends it), then records the wall-clock moment each receives its first `bench_ping` event, until all
have or `timeout` runs out. bench/load.py emits the events and turns the moments into latencies.

Either writes its figures, with the client's own CPU time, to OUT.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import sys
import time
from collections import defaultdict
from typing import Any

import aiohttp

PING = "bench_ping"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def summary_ms(values: list[float]) -> dict[str, float | None]:
    return {f"p{round(q * 100)}_ms": _ms(percentile(values, q)) for q in (0.5, 0.95, 0.99)} | {
        "max_ms": _ms(max(values) if values else None)
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# --- http -----------------------------------------------------------------------------------------


class HttpLoad:
    def __init__(self, plan: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self.plan = plan
        self.session = session
        self.random = random.Random(plan.get("seed", 1))
        self.slots = asyncio.Semaphore(plan["max_in_flight"])
        self.continues = list(plan["writes"].get("continue", []))
        # kind, side, due in the window, latency, client lateness, status, answered inside the window
        self.records: list[tuple[str, str, bool, float, float, int, bool]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        self.measure_from = start + self.plan["warmup_seconds"]
        self.measure_until = self.measure_from + self.plan["seconds"]
        read_kinds = sorted(self.plan["reads"])
        write_kinds = sorted(self.plan["writes"])
        await asyncio.gather(
            self.clock(start, self.plan["read_rate"], "read", read_kinds),
            self.clock(start, self.plan["write_rate"], "write", write_kinds),
        )
        await asyncio.gather(*self.tasks)

    async def clock(self, start: float, rate: float, side: str, kinds: list[str]) -> None:
        if rate <= 0 or not kinds:
            return
        loop = asyncio.get_running_loop()
        i = 0
        while True:
            due = start + i / rate
            if due >= self.measure_until:
                return
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = loop.create_task(self.one(side, kinds[i % len(kinds)], due))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            i += 1

    def request_for(self, side: str, kind: str) -> dict[str, Any] | None:
        if kind == "continue":  # each failed run is continued once
            return self.continues.pop() if self.continues else None
        pool = self.plan["reads" if side == "read" else "writes"][kind]
        return self.random.choice(pool)

    async def one(self, side: str, kind: str, due: float) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()  # the client's own lateness ends here; waiting for a slot is the server's
        spec = self.request_for(side, kind)
        if spec is None:
            return
        async with self.slots:
            status = await self.send(spec)
            done = loop.time()
        measured = self.measure_from <= due < self.measure_until
        in_window = self.measure_from <= done < self.measure_until
        self.records.append((kind, side, measured, done - due, started - due, status, in_window))

    async def send(self, spec: dict[str, Any]) -> int:
        headers = {"Authorization": f"Token {spec['token']}"}
        data: aiohttp.FormData | None = None
        if "files" in spec:  # a workflow run start: multipart, built afresh for every request
            data = aiohttp.FormData()
            for name, value in spec.get("form", {}).items():
                data.add_field(name, value)
            for filename, content in spec["files"]:
                data.add_field("files", content.encode(), filename=filename, content_type="text/plain")
        try:
            async with self.session.request(
                spec.get("method", "GET"),
                self.plan["base"] + spec["path"],
                headers=headers,
                json=spec.get("json"),
                data=data,
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    def figures(self) -> dict[str, Any]:
        seconds = self.plan["seconds"]
        by_kind: dict[str, list[tuple[str, float, float, int]]] = defaultdict(list)
        completed: dict[str, int] = defaultdict(int)  # 2xx answers that arrived inside the window, by side/kind
        for kind, side, measured, latency, lag, status, in_window in self.records:
            if measured:
                by_kind[kind].append((side, latency, lag, status))
            if in_window and 200 <= status < 300:
                completed[side] += 1
                completed[kind] += 1
        kinds: dict[str, Any] = {}
        sides: dict[str, Any] = {}
        for side in ("read", "write"):
            rows = [row for rows in by_kind.values() for row in rows if row[0] == side]
            sides[side] = self._figures(rows, seconds, completed[side])
        for kind, rows in sorted(by_kind.items()):
            kinds[kind] = self._figures(rows, seconds, completed[kind])
        unanswered = sum(1 for _, _, measured, _, _, status, _ in self.records if measured and status == 0)
        return {"by_side": sides, "by_kind": kinds, "unanswered": unanswered}

    @staticmethod
    def _figures(rows: list[tuple[str, float, float, int]], seconds: float, completed: int) -> dict[str, Any]:
        """`rps`: 2xx answers completed inside the window per second (what the server delivered, not
        what was offered); latencies and statuses: the requests that were due inside the window."""
        ok = [latency for _, latency, _, status in rows if 200 <= status < 300]
        statuses: dict[str, int] = defaultdict(int)
        for _, _, _, status in rows:
            statuses[str(status)] += 1
        return {
            "requests": len(rows),
            "ok": len(ok),
            "rps": round(completed / seconds, 1),
            "statuses": dict(statuses),
            **summary_ms([latency for _, latency, _, _ in rows]),
            "send_lag_p99_ms": _ms(percentile([lag for _, _, lag, _ in rows], 0.99)),
        }


async def run_http(plan: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=plan["max_in_flight"], force_close=False)
    timeout = aiohttp.ClientTimeout(total=plan.get("request_timeout", 30))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        load = HttpLoad(plan, session)
        await load.run()
    return load.figures()


# --- sse ------------------------------------------------------------------------------------------


async def run_sse(plan: dict[str, Any]) -> dict[str, Any]:
    subscribers = plan["subscribers"]
    connected = asyncio.Semaphore(0)
    opening = asyncio.Semaphore(plan["open_concurrency"])
    received: dict[int, tuple[float, int]] = {}  # subscriber → (wall-clock moment, the event's `bench` tag)
    refused: dict[str, int] = defaultdict(int)
    all_received = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)

    async def subscribe(index: int, spec: dict[str, Any]) -> None:
        headers = {"Authorization": f"Token {spec['token']}", "Accept": "text/event-stream"}
        counted = False  # `connected` is released once per subscriber: connected, refused or failed
        try:
            async with opening:
                response = await session.get(plan["base"] + spec["path"], headers=headers)
                if response.status != 200:
                    refused[str(response.status)] += 1
                    response.release()
                    counted = True
                    connected.release()
                    return
                async for line in response.content:  # up to the preamble: subscribed
                    if line.startswith(b"retry:"):
                        break
            counted = True
            connected.release()
            event = ""
            async for raw in response.content:
                text = raw.decode().rstrip("\n")
                if text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:") and event == PING:
                    payload = json.loads(text[5:])["payload"]
                    received[index] = (time.time(), int(payload["bench"]))
                    if len(received) == len(subscribers):
                        all_received.set()
                    break
            await all_received.wait()  # the stream stays open until every subscriber has its event
            response.close()
        except (aiohttp.ClientError, TimeoutError) as error:
            refused[type(error).__name__] += 1
            if not counted:
                connected.release()

    cpu_start, wall_start = cpu_seconds(), time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(subscribe(i, spec)) for i, spec in enumerate(subscribers)]
        for _ in subscribers:
            await connected.acquire()
        open_seconds = time.monotonic() - wall_start
        open_cpu = cpu_seconds() - cpu_start
        print(json.dumps({"connected": len(subscribers) - sum(refused.values()), "refused": dict(refused)}), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_received.wait(), plan["timeout"])
        all_received.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "subscribers": len(subscribers),
        "refused": dict(refused),
        "open_seconds": round(open_seconds, 2),
        "open_cpu_seconds": round(open_cpu, 2),
        "received": {str(i): moment for i, moment in received.items()},
    }


async def main(mode: str, plan: dict[str, Any]) -> dict[str, Any]:
    cpu_start, wall_start = cpu_seconds(), time.monotonic()
    figures = await (run_http(plan) if mode == "http" else run_sse(plan))
    wall = time.monotonic() - wall_start
    cpu = cpu_seconds() - cpu_start
    return {**figures, "client": {"cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2), "loop": LOOP}}


try:  # the client's own event loop costs as little CPU as it can: uvloop when installed
    import uvloop

    LOOP = "uvloop"
    run = uvloop.run
except ImportError:  # pragma: no cover
    LOOP = "asyncio"
    run = asyncio.run  # type: ignore[assignment]

if __name__ == "__main__":
    mode, plan_path, out_path = sys.argv[1:4]
    with open(plan_path) as handle:
        loaded = json.load(handle)
    result = run(main(mode, loaded))
    with open(out_path, "w") as handle:
        json.dump(result, handle)
