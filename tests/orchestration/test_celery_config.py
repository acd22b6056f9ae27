"""Redis redelivers unacked messages after the visibility timeout: nothing we schedule may outlive it."""

from django.conf import settings

from config.celery import app


def test_delivery_is_at_least_once_one_message_at_a_time():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_task_time_limits_stay_below_the_visibility_timeout():
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit < visibility


def test_leases_and_drain_slices_stay_far_below_the_visibility_timeout():
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    engine = settings.RELAY_ENGINE
    assert engine["LEASE_SECONDS"] < visibility
    assert engine["DRAIN_SLICE_SECONDS"] < visibility


def test_no_task_uses_a_broker_countdown_delays_live_in_postgresql():
    import subprocess

    found = subprocess.run(
        ["grep", "-rnE", "countdown=|eta=", "orchestration", "campaigns", "workflow_runs", "scans", "--include=*.py"],
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert found.stdout == ""


def test_the_control_lane_is_scheduled_with_expiring_ticks_on_its_own_queue():
    schedule = app.conf.beat_schedule
    tasks = {entry["task"] for entry in schedule.values()}
    assert {"orchestration.reconcile", "orchestration.recover_expired_jobs", "campaigns.rehydrate"} <= tasks
    for entry in schedule.values():
        assert entry["options"]["queue"] == "control"
        assert 0 < entry["options"]["expires"] <= entry["schedule"]
    for task in tasks:
        assert app.conf.task_routes[task]["queue"] == "control"
