"""Start a one-job probe stage in a process that dies right after the commit, before it rings.

`python -m tests.orchestration.crash_after_commit <key> <queue> <fairness_key>`; exits with 137.
"""

import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import transaction

    from orchestration import diagnostics, dispatch, stages

    def die(*args: object, **kwargs: object) -> None:
        os._exit(137)  # the first after-commit callback rings: the process is gone before it sends

    dispatch.ring = die  # type: ignore[assignment]
    key, queue, group = sys.argv[1:4]
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=key, fairness_key=group)
        stages.stage_start_round(
            stage=stage, jobs=[stages.JobSpec(key=key, kind=diagnostics.JOB_KIND, payload={}, queue=queue)]
        )
    os._exit(1)  # not reached when the crash happened where intended


if __name__ == "__main__":
    main()
