"""The fault schedule is a function of the seed: a seed replays the same faults at the same offsets,
and the full profile has at least the faults the battery promises."""

from devstack.chaos.faults import schedule


def test_a_seed_replays_the_same_schedule_and_another_seed_does_not():
    assert schedule(7, "full", 900) == schedule(7, "full", 900)
    assert schedule(7, "full", 900) != schedule(8, "full", 900)


def test_the_full_profile_has_every_fault_the_battery_promises():
    kinds = [fault.kind for fault in schedule(7, "full", 900)]
    assert kinds.count("kill_pool_process") + kinds.count("kill_worker") >= 10
    assert kinds.count("kill_redis_keep_data") + kinds.count("kill_redis_lose_data") >= 2
    assert kinds.count("kill_redis_lose_data") >= 1
    assert kinds.count("kill_postgres") >= 1 and kinds.count("terminate_backends") >= 1
    for kind in ("kill_web", "kill_beat", "kill_control", "duplicate_deliveries"):
        assert kinds.count(kind) >= 1
    assert all(0 < fault.at < 900 for fault in schedule(7, "full", 900))


def test_the_short_profile_has_every_kind_of_fault():
    assert {fault.kind for fault in schedule(1, "short", 25)} == {fault.kind for fault in schedule(1, "full", 900)}
