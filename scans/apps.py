from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "scans"

    def ready(self) -> None:
        from . import jobs, retention

        jobs.register()
        retention.register()
