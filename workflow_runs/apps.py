from django.apps import AppConfig


class WorkflowRunsConfig(AppConfig):
    name = "workflow_runs"
