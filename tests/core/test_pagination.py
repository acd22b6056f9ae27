"""Every paginated list reads `limit` and `offset` strictly: a value that is not a whole number in range
is a 400 on the parameter (DRF's paginator silently served the first page instead; found by the
contract test); an empty value is the same as none; a limit over the maximum is the maximum."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["offset=abc", "offset=null", "offset=-1", "limit=0", "limit=x", "limit=1.5"])
def test_a_bad_limit_or_offset_is_a_400_on_the_parameter(admin_client, query):
    response = admin_client.get(f"/api/campaigns?{query}")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {query.split("=")[0]}


def test_an_offset_past_what_a_query_takes_is_a_400(admin_client):
    assert admin_client.get(f"/api/campaigns?offset={2**31}").status_code == 400


@pytest.mark.parametrize("query", ["", "limit=&offset=", "limit=10.0&offset=0", "limit=100000"])
def test_empty_whole_and_oversized_values_are_read_as_a_client_means_them(admin_client, query):
    for name in ("a", "b", "c"):
        admin_client.post("/api/campaigns", {"name": name}, format="json")

    response = admin_client.get(f"/api/campaigns?{query}")

    assert response.status_code == 200
    assert response.json()["count"] == 3 and len(response.json()["results"]) == 3
