import os

from django.core.wsgi import get_wsgi_application

from config.telemetry import configure as configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
configure_tracing(service="relay-web")  # before Django builds its middleware chain; a no-op without OTLP
application = get_wsgi_application()
