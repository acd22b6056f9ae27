"""A campaign without a report yet answers 409 `report_not_ready`, so a client can tell it from a
campaign that does not exist (404). Found by the contract test (a created campaign's report was a 404)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["report", "report.csv"])
def test_a_campaign_before_analysis_has_no_report_yet_409(admin_client, path):
    campaign = admin_client.post("/api/campaigns", {"name": "c"}, format="json").json()

    response = admin_client.get(f"/api/campaigns/{campaign['id']}/{path}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "report_not_ready"


@pytest.mark.parametrize("path", ["report", "report.csv"])
def test_an_unknown_campaigns_report_is_404(admin_client, path):
    response = admin_client.get(f"/api/campaigns/00000000-0000-0000-0000-000000000000/{path}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
