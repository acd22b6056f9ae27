"""Django's ASGI handler with each request served by the synchronous middleware chain in one hop to a
fixed pool of `RELAY_WEB_MAX_CONCURRENT_REQUESTS` threads.

Why (py-spy on one web process under bench-load, and CPU per request driving the ASGI app in-process):
- Django's ASGI handler runs an async middleware chain. Each `MiddlewareMixin` middleware then hops to
  a thread and back for its `process_request` and again for its `process_response`, and WhiteNoise,
  sync-only, splits the chain with `async_to_sync`: several thread hops a request. Our views are
  synchronous (DRF), so the whole chain runs synchronously here, and async views (the SSE streams) are
  called from it as Django's WSGI handler calls them.
- Django also serves every request inside a fresh `ThreadSensitiveContext`: a new thread per request,
  and with it a new thread-local `DatabaseWrapper`, plus separate hops for `request_started` and for
  `response.close()`. A list of 50 campaigns cost 5.4-6.3 ms of CPU through Django's handler against
  3.0 ms through the test client. Here a request is one task on a long-lived thread: `request_started`,
  the chain, the view and, for a response that is not streamed, `close()` (`request_finished`: the
  database connection goes back to the pool before the bytes go out).
- The pool is also the admission bound. Every request in flight was runnable at once before: hundreds
  of threads fighting for the GIL and for the database pool's connections (503s once the pool's wait
  timed out). Past the bound, requests wait in the pool's queue, in arrival order, costing nothing.
- A streamed response (SSE, CSV) is sent as Django sends it: while listening for the client's
  disconnect, which cancels the stream; it holds no thread while it streams (its own reads hop with
  `sync_to_async(thread_sensitive=False)`), and its `close()` takes one more hop at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.load_middleware(is_async=False)
        self._threads = ThreadPoolExecutor(
            max_workers=settings.RELAY_WEB_MAX_CONCURRENT_REQUESTS, thread_name_prefix="request"
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            response = await self._in_thread(self._serve, scope, body_file)
            if not response.streaming:
                # A disconnect meanwhile costs nothing more: the server drops what is sent after it.
                await self.send_response(response, send)
                return
            await self._stream(response, receive, send)
            await self._in_thread(response.close)
        finally:
            body_file.close()

    def _serve(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """In a pool thread: what Django's handler does in three hops, in one."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = error_response if request is None else self.get_response(request)
        assert response is not None  # create_request answers a request or an error response
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # the ASGI server chunks
        if not response.streaming:
            response.close()  # its content is in memory: `request_finished` (the connection back) now
        return response

    async def _stream(self, response: HttpResponseBase, receive: Any, send: Any) -> None:
        """Django's: send while listening for a disconnect; whichever ends first cancels the other."""
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        sending = asyncio.create_task(self.send_response(response, send))
        await asyncio.wait([listening, sending], return_when=asyncio.FIRST_COMPLETED)
        for task in (listening, sending):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                await task

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        """`function(*args)` on a pool thread, in this task's context (request id, trace). Through
        asgiref, so that an async view called from the chain (`async_to_sync`) runs on this event loop,
        not on a throw-away one."""
        return await sync_to_async(function, thread_sensitive=False, executor=self._threads)(*args)


def get_asgi_application() -> OneHopASGIHandler:
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler()
