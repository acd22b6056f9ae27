from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from orchestration.registry import JobKind, StageKind, register_job_kind, register_stage_kind

        from . import chain, jobs
        from .services.phases import STAGE_KIND

        register_stage_kind(
            StageKind(
                name=STAGE_KIND,
                finalise=chain.finalise_phase,
                on_job_lost=chain.on_batch_lost,
                on_worker_start=chain.recover_after_restart,
            )
        )
        register_job_kind(JobKind(name=jobs.JOB_KIND, run=jobs.run_batch))
