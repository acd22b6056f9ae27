"""Setting a tenant's fair-share cap from the admin: the API's validation and its platform-admin rule."""

import pytest

from orchestration.models import FairShare
from tenants.models import Role

from ..admin_actions import act, admin_browser, confirmation, staff
from ..helpers import make_user

pytestmark = pytest.mark.django_db

TENANTS = "/admin/tenants/tenant/"


def test_a_platform_admin_caps_a_tenant(tenant, platform_admin):
    client = admin_browser(platform_admin)
    assert "Max running jobs" in confirmation(client, TENANTS, "set_fair_share", [tenant])

    shown = act(client, TENANTS, "set_fair_share", [tenant], relay_confirmed="yes", max_running="3")

    assert shown == [f"{tenant}: fair-share cap set."]
    assert FairShare.objects.get(group_key=f"tenant:{tenant.pk}").max_running == 3


def test_a_negative_cap_shows_the_apis_field_error(tenant, platform_admin):
    shown = act(
        admin_browser(platform_admin), TENANTS, "set_fair_share", [tenant], relay_confirmed="yes", max_running="-1"
    )
    assert "(400 invalid) maxRunningJobs: Ensure this value is greater than or equal to 0." in shown[0]


def test_a_tenant_admin_with_admin_access_may_not_set_caps_or_grant(tenant):
    admin = staff(make_user(tenant=tenant, role=Role.TENANT_ADMIN), "view_tenant", "change_tenant")
    client = admin_browser(admin)

    capped = act(client, TENANTS, "set_fair_share", [tenant], relay_confirmed="yes", max_running="3")
    granted = act(client, TENANTS, "grant_credits", [tenant], relay_confirmed="yes", amount="5", source="monthly")

    assert "(403 permission_denied)" in capped[0]
    assert "(403 permission_denied)" in granted[0]
    assert not FairShare.objects.filter(group_key=f"tenant:{tenant.pk}").exists()
