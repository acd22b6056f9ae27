from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import CreditAccount, CreditLedgerEntry, RunFile, Template, WorkflowRun


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin[Template]):
    list_display = ["name", "tenant", "processor", "credits_per_run", "max_attempts", "archived_at"]
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
class WorkflowRunAdmin(admin.ModelAdmin[WorkflowRun]):
    list_display = [
        "id",
        "tenant",
        "template",
        "mode",
        "status",
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "credits_monthly",
        "credits_purchased",
        "created_at",
    ]
    list_filter = ["status", "mode"]
    raw_id_fields = ["template", "stage", "created_by"]
    readonly_fields = [
        "status",
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "credits_monthly",
        "credits_purchased",
        "stage",
    ]


@admin.register(RunFile)
class RunFileAdmin(admin.ModelAdmin[RunFile]):
    list_display = ["run", "index", "name", "status", "retry_attempt", "error_code"]
    list_filter = ["status"]
    raw_id_fields = ["run"]


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin[CreditAccount]):
    list_display = ["tenant", "monthly_balance", "purchased_balance", "updated_at"]
    # Balances move only through the ledger services.
    readonly_fields = ["tenant", "monthly_balance", "purchased_balance"]


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(admin.ModelAdmin[CreditLedgerEntry]):
    list_display = ["id", "tenant", "run", "amount", "source", "reason", "created_at"]
    list_filter = ["reason", "source"]
    readonly_fields = ["tenant", "run", "amount", "source", "reason", "note", "created_by", "created_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # append-only, written by the credit services
