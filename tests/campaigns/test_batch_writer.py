"""BatchWriter streams results into PostgreSQL on a writer thread that shares the job's connection."""

import pytest
from django.db import connection, transaction

from campaigns.batch_writer import BatchWriter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def table():
    with connection.cursor() as cursor:  # a temporary table: only the job's own session can see it
        cursor.execute("CREATE TEMP TABLE writer_rows (n int PRIMARY KEY, ok bool NOT NULL)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE writer_rows")


def stored() -> list[tuple[int, bool]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT n, ok FROM writer_rows ORDER BY n")
        return list(cursor.fetchall())


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.chunks: list[list[tuple[int, bool]]] = []
        self.fail_on = fail_on

    def __call__(self, cursor, chunk):
        if self.fail_on is not None and any(n == self.fail_on for n, _ in chunk):
            raise ValueError("the database refused the chunk")
        cursor.execute(
            "INSERT INTO writer_rows SELECT * FROM unnest(%s::int[], %s::bool[]) ON CONFLICT (n) DO NOTHING",
            [[n for n, _ in chunk], [ok for _, ok in chunk]],
        )
        self.chunks.append(chunk)


def test_results_are_written_in_chunks_while_the_batch_runs(table):
    write = Recorder()
    with BatchWriter(write=write, usable=lambda item: item[1], chunk_size=10) as writer:
        for n in range(35):
            writer.add((n, True))
    assert stored() == [(n, True) for n in range(35)]
    assert [len(chunk) for chunk in write.chunks] == [10, 10, 10, 5]


def test_nothing_is_written_for_a_batch_that_proves_unusable_and_raises(table):
    write = Recorder()
    with (
        pytest.raises(RuntimeError, match="unreachable"),
        BatchWriter(write=write, usable=lambda item: item[1], chunk_size=10) as writer,
    ):
        for n in range(35):
            writer.add((n, False))  # every result a failure: chunks are held back, not written
        raise RuntimeError("resolvers unreachable")
    assert stored() == [] and write.chunks == []


def test_held_chunks_follow_as_soon_as_one_result_proves_the_batch(table):
    write = Recorder()
    with BatchWriter(write=write, usable=lambda item: item[1], chunk_size=10) as writer:
        for n in range(25):
            writer.add((n, n == 24))  # the first good answer comes last
    assert stored() == [(n, n == 24) for n in range(25)]


def test_a_batch_accepted_without_a_usable_result_is_still_written(table):
    with BatchWriter(write=Recorder(), usable=lambda item: item[1], chunk_size=10) as writer:
        for n in range(3):
            writer.add((n, False))
    assert len(stored()) == 3


def test_a_write_error_is_raised_in_the_jobs_thread_when_the_block_ends(table):
    with (
        pytest.raises(ValueError, match="refused"),
        BatchWriter(write=Recorder(fail_on=12), usable=lambda item: item[1], chunk_size=10) as writer,
    ):
        for n in range(30):
            writer.add((n, True))
    assert [n for n, _ in stored()] == list(range(10))  # the chunk before the failure committed
    with connection.cursor() as cursor:  # and the connection is usable again in this thread
        cursor.execute("SELECT 1")


def test_it_refuses_to_run_inside_a_transaction(table):
    with transaction.atomic(), pytest.raises(RuntimeError, match="inside a transaction"):
        BatchWriter(write=Recorder(), usable=bool).__enter__()
