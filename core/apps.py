from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from . import deploy_checks  # noqa: F401 (registers the unsafe-production-settings check)
