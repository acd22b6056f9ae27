"""PostgreSQL going away under a request (found by the chaos battery: a PostgreSQL restart during a
phase-config PUT answered 500) is a 503 in the error envelope with Retry-After, never a 500."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_this_connection() -> None:
    """Cut the backend this process's connection uses, from another session, as a restart would."""
    import psycopg

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)


def test_a_request_whose_database_connection_died_answers_503_and_the_next_one_is_served(admin_client):
    terminate_this_connection()
    try:
        response = admin_client.get("/api/campaigns")

        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response["Retry-After"] == "1"
    finally:
        connection.close()  # what the end of a request does with a connection that errored
    assert admin_client.get("/api/campaigns").status_code == 200
