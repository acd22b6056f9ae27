import time
from collections.abc import Iterator

import pytest

from devstack.workers import WorkerProcess, start_control_plane, start_worker
from tenants.models import Role, Tenant, User

from .helpers import client_for, make_tenant, make_user


@pytest.fixture(scope="session")
def control_plane(django_db_setup: None, django_db_blocker: object) -> Iterator[WorkerProcess]:
    """The control lane's reconciler, shared by the session: it rings queues whose due jobs nobody
    drains (delayed retries, lost doorbells). Its sweeper and campaign recovery are off here, so that
    tests that play a lost worker call the sweeper themselves and see exactly what it did."""
    worker = start_control_plane(
        env={"RELAY_RECOVER_INTERVAL_SECONDS": "86400", "RELAY_CAMPAIGN_REHYDRATE_INTERVAL_SECONDS": "86400"}
    )
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def celery_worker(control_plane: WorkerProcess) -> Iterator[WorkerProcess]:
    """One real worker process (prefork, 2 pool processes) shared by the session's integration tests,
    with the control lane beside it. Tests that use it must be `django_db(transaction=True)`: the
    worker sees only committed rows."""
    worker = start_worker(concurrency=2)
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(django_db_setup: None) -> Iterator[object]:
    """Start extra workers inside one test (for kill tests); all are stopped afterwards."""
    started: list[WorkerProcess] = []

    def factory(**kwargs: object) -> WorkerProcess:
        worker = start_worker(**kwargs)
        started.append(worker)
        return worker

    yield factory
    for worker in started:
        worker.kill()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant()


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant()


@pytest.fixture
def tenant_admin(tenant: Tenant) -> User:
    return make_user(tenant=tenant, role=Role.TENANT_ADMIN)


@pytest.fixture
def tenant_member(tenant: Tenant) -> User:
    return make_user(tenant=tenant, role=Role.TENANT_MEMBER)


@pytest.fixture
def platform_admin(db: None) -> User:
    return make_user(tenant=None, role=Role.PLATFORM_ADMIN)


@pytest.fixture
def admin_client(tenant_admin: User):
    return client_for(tenant_admin)


@pytest.fixture
def member_client(tenant_member: User):
    return client_for(tenant_member)


def _is_deadlock(exc: BaseException | None) -> bool:
    """Django wraps the flush's deadlock in a CommandError: look down the chain."""
    while exc is not None:
        if "deadlock detected" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@pytest.fixture(scope="session", autouse=True)
def _flush_retries_deadlocks() -> Iterator[None]:
    """A transactional test ends with TRUNCATE of every table, which needs an exclusive lock on each;
    a worker still ending a job of that test holds row locks on a few of them, and PostgreSQL may pick
    the TRUNCATE as the deadlock victim. Try again: the worker's transaction is a few ms long."""
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]

    def teardown_with_retries(self: TransactionTestCase) -> None:
        for attempt in range(10):
            try:
                return original(self)
            except Exception as exc:
                if attempt == 9 or not _is_deadlock(exc):
                    raise
                time.sleep(0.2)

    TransactionTestCase._fixture_teardown = teardown_with_retries  # type: ignore[attr-defined]
    yield
    TransactionTestCase._fixture_teardown = original  # type: ignore[attr-defined]
