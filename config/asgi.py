import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from core.body_limit import RequestBodyLimit  # noqa: E402 (needs the settings configured above)

# Bodies over RELAY_MAX_REQUEST_BYTES are refused while they stream in, before Django spools them.
application = RequestBodyLimit(django_application)
