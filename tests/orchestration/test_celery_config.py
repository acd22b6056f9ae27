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


def test_retry_countdowns_stay_below_the_visibility_timeout_and_longer_delays_wait_in_the_database():
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    engine = settings.RELAY_ENGINE
    assert engine["MAX_COUNTDOWN_SECONDS"] < visibility
    assert engine["LEASE_SECONDS"] < visibility


def test_the_relay_and_the_recovery_sweep_are_scheduled():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"orchestration.relay_queued_jobs", "orchestration.recover_expired_jobs"} <= tasks
