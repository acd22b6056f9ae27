"""Django's ASGI handler with the request served by the synchronous middleware chain in one thread hop,
and at most `RELAY_WEB_MAX_CONCURRENT_REQUESTS` requests inside it at a time.

Why (py-spy on one web process under bench-load's offered 200 reads/s):
- Django's ASGI handler runs an async middleware chain. Each `MiddlewareMixin` middleware then hops to
  a thread and back for its `process_request` and again for its `process_response`, and WhiteNoise,
  sync-only, splits the chain with `async_to_sync`: several thread hops a request. Our views are
  synchronous (DRF), so the whole chain runs synchronously here, in the request's own thread (Django's
  thread-sensitive context: one thread a request, as before), and async views (the SSE streams) are
  called from it as Django's WSGI handler calls them.
- Every request in flight was runnable at once: hundreds of threads fighting for the GIL and for the
  database pool's connections (503s once the pool's wait timed out). Past the bound, requests wait on
  the event loop, in arrival order, costing nothing. An SSE stream holds no place: its view returns its
  response at once, and the streaming happens after it, outside the bound.
With it, bench-load's reads had no 503s and 62 were served a second on a quiet machine (100
subscribers): still far below the 200/s offered; the rest of a request's time is DRF and its queries.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.load_middleware(is_async=False)
        self._admission: asyncio.Semaphore | None = None  # made on the server's event loop

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if self._admission is None:
            self._admission = asyncio.Semaphore(settings.RELAY_WEB_MAX_CONCURRENT_REQUESTS)
        async with self._admission:
            response: Any = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        return response


def get_asgi_application() -> OneHopASGIHandler:
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler()
