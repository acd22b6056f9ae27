from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    verbose_name = "Job engine"

    def ready(self) -> None:
        from . import diagnostics, signals  # noqa: F401  (signals: worker start-up hooks)

        diagnostics.register()
