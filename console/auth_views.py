"""Session sign-in for people, throttled like the API's login (the same counters in the shared cache:
per client address and per username)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, QueryDict

from tenants.throttles import LoginAddressThrottle, LoginUsernameThrottle


@dataclass(frozen=True)
class _Attempt:
    """What the API's login throttles read of a request: its headers and its submitted fields."""

    META: dict[str, Any]
    headers: Any
    data: QueryDict


class ConsoleLoginView(LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        attempt = _Attempt(META=request.META, headers=request.headers, data=request.POST)
        for throttle in (LoginAddressThrottle(), LoginUsernameThrottle()):
            if not throttle.allow_request(attempt, self):  # type: ignore[arg-type]
                wait = math.ceil(throttle.wait() or 1)
                context = self.get_context_data(form=self.get_form(), throttled=wait)
                response = self.render_to_response(context, status=429)
                response["Retry-After"] = str(wait)
                return response
        return super().post(request, *args, **kwargs)
