from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import CreditAccount, CreditLedgerEntry, ProcessorPrice, RunFile, Template, WorkflowRun


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
        "unit_price",
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
        "unit_price",
        "processor",
        "processor_config",
        "credits_monthly",
        "credits_purchased",
        "reserved_monthly",
        "reserved_purchased",
        "stage",
    ]


@admin.register(RunFile)
class RunFileAdmin(admin.ModelAdmin[RunFile]):
    list_display = ["run", "index", "name", "status", "retry_attempt", "error_code"]
    list_filter = ["status"]
    raw_id_fields = ["run"]


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin[CreditAccount]):
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
class CreditLedgerEntryAdmin(admin.ModelAdmin[CreditLedgerEntry]):
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
