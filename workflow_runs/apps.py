from django.apps import AppConfig


class WorkflowRunsConfig(AppConfig):
    name = "workflow_runs"
    verbose_name = "Workflow runs"

    def ready(self) -> None:
        from . import jobs, retention

        jobs.register()
        retention.register()
