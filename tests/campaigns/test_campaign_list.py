"""The campaign list is built from `values()` rows: it must answer what `CampaignSummarySerializer`
answers for each campaign's model, in a fixed number of queries."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from campaigns.api.serializers import CampaignSummarySerializer
from campaigns.models import Campaign, CampaignMode
from campaigns.services.campaigns import campaign_create

from ..helpers import client_for

pytestmark = pytest.mark.django_db


def test_a_list_page_answers_what_each_campaigns_serializer_answers(tenant, tenant_admin, other_tenant):
    for i, mode in enumerate([CampaignMode.STEP_BY_STEP, CampaignMode.FULL_SEQUENCE, None]):
        campaign_create(tenant=tenant, name=f"c{i} — é", mode=mode, actor=tenant_admin)
    campaign_create(tenant=other_tenant, name="foreign", actor=None)

    listed = client_for(tenant_admin).get("/api/campaigns?limit=50").json()["results"]

    models = Campaign.objects.filter(tenant=tenant)
    expected = json.loads(JSONRenderer().render(CampaignSummarySerializer(models, many=True).data))
    assert sorted(listed, key=lambda row: row["id"]) == sorted(expected, key=lambda row: row["id"])
    assert len(listed) == 3


def test_a_list_page_costs_the_same_queries_for_1_campaign_and_for_50(tenant, tenant_admin):
    client = client_for(tenant_admin)

    def queries_for_a_page() -> int:
        client.get("/api/campaigns?limit=50")  # a token renewal is not the page's cost
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/campaigns?limit=50").status_code == 200
        return len(queries.captured_queries)

    campaign_create(tenant=tenant, name="first", actor=tenant_admin)
    one = queries_for_a_page()
    for i in range(49):
        campaign_create(tenant=tenant, name=f"c{i}", actor=tenant_admin)
    assert queries_for_a_page() == one
