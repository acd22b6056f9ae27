"""Run Continue in a process that dies right after the transaction commits, before it rings a doorbell.

`python -m tests.workflow_runs.crash_after_commit <run_id> <user_id>`; exits with status 137.
"""

import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from orchestration import dispatch
    from tenants.models import User
    from workflow_runs.services.retry import workflow_run_retry_failed

    def die(*args: object, **kwargs: object) -> None:
        os._exit(137)  # the first after-commit callback rings: the process is gone before it sends

    dispatch.ring = die  # type: ignore[assignment]
    workflow_run_retry_failed(run_id=sys.argv[1], actor=User.objects.get(pk=sys.argv[2]))
    os._exit(1)  # not reached when the crash happened where intended


if __name__ == "__main__":
    main()
