import os

from config.telemetry import configure as configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
configure_tracing(service="relay-web")  # before Django builds its middleware chain; a no-op without OTLP

from core.asgi_handler import get_asgi_application  # noqa: E402 (Django is set up by it)

django_application = get_asgi_application()

from core.body_limit import RequestBodyLimit  # noqa: E402 (needs the settings configured above)
from core.deploy_checks import refuse_unsafe_start  # noqa: E402

# uvicorn runs no system checks: refuse here to serve with DEBUG off and an unsafe configuration.
refuse_unsafe_start()

# Bodies over RELAY_MAX_REQUEST_BYTES are refused while they stream in, before Django spools them.
application = RequestBodyLimit(django_application)
