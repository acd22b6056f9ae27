from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.admin_actions import confirmation_page, confirmed, require_platform_admin, require_tenant_admin, run_each
from tenants.admin import TenantAdmin
from tenants.admin_scoping import TenantScopedAdmin, admin_user
from tenants.models import Tenant

from .api.serializers import CreditGrantSerializer
from .models import CreditAccount, CreditLedgerEntry, ProcessorPrice, RunFile, Template, WorkflowRun
from .selectors import continue_state, credit_account_get
from .services.cancel import workflow_run_cancel
from .services.credits import credits_grant
from .services.retry import workflow_run_retry_failed


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin[Template]):
    list_display = ["name", "tenant", "processor", "max_attempts", "archived_at"]
    list_filter = ["processor"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Template]:
        return Template.all_objects.select_related("tenant")  # archived ones too


class RunFileInline(admin.TabularInline[RunFile, WorkflowRun]):
    model = RunFile
    extra = 0
    fields = ["index", "name", "status", "retry_attempt", "error_code"]
    readonly_fields = ["index", "name", "status", "retry_attempt", "error_code"]
    can_delete = False
    show_change_link = False


@admin.register(WorkflowRun)
class WorkflowRunAdmin(TenantScopedAdmin[WorkflowRun]):
    list_display = [
        "id",
        "tenant",
        "template",
        "mode",
        "status",
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "unit_price",
        "credits_monthly",
        "credits_purchased",
        "created_at",
    ]
    list_filter = ["status", "mode", "processor"]
    search_fields = ["id", "template__name"]
    raw_id_fields = ["template", "stage", "created_by"]
    actions = ["continue_runs", "cancel_runs"]
    readonly_fields = [
        "status",
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "unit_price",
        "processor",
        "processor_config",
        "credits_monthly",
        "credits_purchased",
        "reserved_monthly",
        "reserved_purchased",
        "stage",
    ]

    @admin.action(description="Continue the selected runs (retry failed and pending files)")
    def continue_runs(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> TemplateResponse | None:
        """First a page with what Continue would retry and cost for each run; then Continue."""
        runs = list(queryset.order_by("pk"))
        actor = admin_user(request)
        if not confirmed(request):
            lines = []
            for run in runs:
                state = continue_state(run=run, user=actor)
                balance = credit_account_get(tenant_id=run.tenant_id).total
                lines.append(
                    f"{run}: {state.files} file(s), {state.charged_files} failed at {run.unit_price} credits: "
                    f"costs {state.credits_required} credits (tenant balance {balance})"
                    + (f"; cannot continue now: {state.reason}" if not state.can_continue else "")
                )
            return confirmation_page(
                self, request, title="Continue these runs?", lines=lines, selected=runs, confirm="Continue"
            )

        def retry(run: WorkflowRun) -> object:
            require_tenant_admin(actor)
            return workflow_run_retry_failed(run_id=run.pk, actor=actor)

        run_each(self, request, runs, retry, done="Continue started.")
        return None

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        actor = admin_user(request)

        def cancel(run: WorkflowRun) -> object:
            require_tenant_admin(actor)
            return workflow_run_cancel(run_id=run.pk, actor=actor)

        run_each(self, request, queryset.order_by("pk"), cancel, done="cancel requested.")


@admin.register(RunFile)
class RunFileAdmin(TenantScopedAdmin[RunFile]):
    tenant_field = "run__tenant"
    list_display = ["run", "index", "name", "status", "retry_attempt", "error_code"]
    list_filter = ["status", "error_code"]
    search_fields = ["name", "run__id"]
    raw_id_fields = ["run"]


@admin.register(CreditAccount)
class CreditAccountAdmin(TenantScopedAdmin[CreditAccount]):
    list_display = [
        "tenant",
        "plan",
        "monthly_balance",
        "purchased_balance",
        "reserved_balance",
        "captured_balance",
        "monthly_allowance",
        "updated_at",
    ]
    # Balances move only through the ledger services; the plan picks the price list's rows.
    readonly_fields = [
        "tenant",
        "monthly_balance",
        "purchased_balance",
        "reserved_balance",
        "captured_balance",
        "granted_balance",
        "monthly_reset_at",
    ]

    def has_delete_permission(self, request: HttpRequest, obj: CreditAccount | None = None) -> bool:
        return False  # the database refuses it too while the account has ledger entries


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(TenantScopedAdmin[CreditLedgerEntry]):
    list_display = ["id", "tenant", "run", "reason", "amount", "source", "round", "files", "created_at"]
    list_filter = ["reason", "source"]
    readonly_fields = [
        "tenant",
        "run",
        "amount",
        "source",
        "reason",
        "round",
        "files",
        "note",
        "created_by",
        "created_at",
    ]

    # Append-only, written by the credit services; a database trigger refuses UPDATE and DELETE too.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CreditLedgerEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CreditLedgerEntry | None = None) -> bool:
        return False


@admin.register(ProcessorPrice)
class ProcessorPriceAdmin(admin.ModelAdmin[ProcessorPrice]):
    """The price list; started runs keep the price they snapshotted."""

    list_display = ["processor", "plan", "credits_per_file", "updated_by", "updated_at"]
    list_filter = ["plan"]
    readonly_fields = ["updated_by", "updated_at"]


class GrantForm(forms.Form):
    amount = forms.IntegerField(label="Credits")
    source = forms.ChoiceField(choices=[("purchased", "purchased"), ("monthly", "monthly")])
    note = forms.CharField(required=False, max_length=200)


@admin.action(description="Grant credits (a ledger entry)")
def grant_credits(
    modeladmin: admin.ModelAdmin[Tenant], request: HttpRequest, queryset: QuerySet[Tenant]
) -> TemplateResponse | None:
    """On the tenants' list: the amount and source, then one grant (ledger entry) per tenant."""
    tenants = list(queryset.order_by("pk"))
    form = GrantForm(request.POST if confirmed(request) else None)
    if not form.is_valid():
        lines = [f"{tenant}: balance {credit_account_get(tenant_id=tenant.pk).total}" for tenant in tenants]
        return confirmation_page(
            modeladmin, request, title="Grant credits", lines=lines, selected=tenants, form=form, confirm="Grant"
        )
    actor = admin_user(request)

    def grant(tenant: Tenant) -> object:
        require_platform_admin(actor)
        serializer = CreditGrantSerializer(data={**form.cleaned_data, "tenant": str(tenant.pk)})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("tenant")
        return credits_grant(tenant=tenant, actor=actor, **data)

    run_each(modeladmin, request, tenants, grant, done="credits granted.")
    return None


TenantAdmin.actions = [*TenantAdmin.actions, grant_credits]
