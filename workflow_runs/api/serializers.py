"""Input validation and output shapes of the workflow-runs API (camelCase JSON)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import serializers

from ..models import CreditReason, CreditSource, FileStatus, RunMode, Template
from ..processors import available

MAX_FILE_BYTES = int(getattr(settings, "WORKFLOW_RUNS_MAX_FILE_BYTES", 20 * 1024 * 1024))
MAX_PROCESSOR_CONFIG_CHARS = 16_384
MAX_FILES = int(getattr(settings, "DATA_UPLOAD_MAX_NUMBER_FILES", 10_000))


class TemplateSerializer(serializers.ModelSerializer):
    creditsPerRun = serializers.SerializerMethodField(
        help_text="The platform's current price per file for the caller's plan (null: not priced yet). "
        "Read-only: a run snapshots the price at start."
    )
    processorConfig = serializers.JSONField(source="processor_config")
    maxAttempts = serializers.IntegerField(source="max_attempts")
    platformWide = serializers.SerializerMethodField()
    archived = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Template
        fields = [
            "id",
            "tenant",
            "name",
            "description",
            "creditsPerRun",
            "processor",
            "processorConfig",
            "maxAttempts",
            "platformWide",
            "archived",
            "createdAt",
        ]

    def get_creditsPerRun(self, template: Template) -> int | None:
        prices: dict[str, int] = self.context.get("prices", {})
        return prices.get(template.processor)

    def get_platformWide(self, template: Template) -> bool:
        return template.tenant_id is None

    def get_archived(self, template: Template) -> bool:
        return template.is_archived


class TemplateWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    processor = serializers.ChoiceField(choices=[])
    processorConfig = serializers.DictField(required=False, default=dict, source="processor_config")
    maxAttempts = serializers.IntegerField(min_value=1, max_value=10, required=False, default=3, source="max_attempts")
    tenant = serializers.UUIDField(
        required=False, allow_null=True, help_text="Platform admins: the tenant, or null for a platform-wide template."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        processor = self.fields["processor"]
        assert isinstance(processor, serializers.ChoiceField)
        processor.choices = available()

    def validate_processorConfig(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_PROCESSOR_CONFIG_CHARS:
            raise serializers.ValidationError(f"At most {MAX_PROCESSOR_CONFIG_CHARS} characters as JSON.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Prices belong to the platform's price list: a template never carries one.
        priced = sorted(PRICE_FIELDS & set(self.initial_data or {}))
        if priced:
            raise serializers.ValidationError(
                {name: ["Prices are set by the platform (see /api/prices), not by templates."] for name in priced}
            )
        return attrs


PRICE_FIELDS = {"creditsPerRun", "credits_per_run", "creditsPerFile", "price", "unitPrice"}


class PriceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    processor = serializers.CharField()
    plan = serializers.CharField(allow_blank=True, help_text="Blank: the default for every plan.")
    creditsPerFile = serializers.IntegerField(source="credits_per_file")
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)


class PriceWriteSerializer(serializers.Serializer):
    processor = serializers.ChoiceField(choices=[])
    plan = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    creditsPerFile = serializers.IntegerField(min_value=1, max_value=1_000_000_000, source="credits_per_file")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        processor = self.fields["processor"]
        assert isinstance(processor, serializers.ChoiceField)
        processor.choices = available()


class TemplateUpdateSerializer(TemplateWriteSerializer):
    """PATCH: every field optional; the tenant of a template never changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)
        self.fields.pop("tenant")
        for field in self.fields.values():
            field.default = serializers.empty


class UploadListField(serializers.ListField):
    """`files` (or `files[]`) repeated in a multipart body."""

    def get_value(self, dictionary: Any) -> Any:
        if hasattr(dictionary, "getlist"):
            values = dictionary.getlist(self.field_name) + dictionary.getlist(f"{self.field_name}[]")
            return values or serializers.empty
        return super().get_value(dictionary)


class RunStartSerializer(serializers.Serializer):
    template = serializers.UUIDField()
    files = UploadListField(
        child=serializers.FileField(max_length=255, allow_empty_file=True),
        allow_empty=False,
        min_length=1,
        max_length=MAX_FILES,
    )
    mode = serializers.ChoiceField(choices=RunMode.choices, default=RunMode.PER_FILE)
    maxRetryCount = serializers.IntegerField(min_value=1, max_value=10, required=False)
    max_retry_count = serializers.IntegerField(
        min_value=1, max_value=10, required=False, help_text="The same as maxRetryCount (the first API's spelling)."
    )
    tenant = serializers.UUIDField(required=False, help_text="Platform admins: the tenant the run is for.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["max_retry_count"] = attrs.pop("maxRetryCount", attrs.get("max_retry_count", 3))
        return attrs

    def validate_files(self, files: list[Any]) -> list[Any]:
        too_big = [upload.name for upload in files if (upload.size or 0) > MAX_FILE_BYTES]
        if too_big:
            raise serializers.ValidationError(f"Files over {MAX_FILE_BYTES} bytes: {', '.join(too_big[:20])}.")
        return files


class RunFileSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.CharField()
    retryAttempt = serializers.IntegerField()
    errorCode = serializers.CharField()
    errorMessage = serializers.CharField()
    output = serializers.JSONField(allow_null=True)


class RunFilesQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FileStatus.choices, required=False, help_text="Only files in this status.")
    limit = serializers.IntegerField(required=False, min_value=1, help_text="Page size (at most the API's maximum).")
    offset = serializers.IntegerField(required=False, min_value=0)


class CreditsSerializer(serializers.Serializer):
    monthly = serializers.IntegerField()
    purchased = serializers.IntegerField()
    total = serializers.IntegerField()


class RunSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    tenant = serializers.UUIDField()
    template = serializers.DictField()
    mode = serializers.CharField()
    status = serializers.CharField()
    maxRetryCount = serializers.IntegerField()
    totalJobs = serializers.IntegerField()
    completedJobs = serializers.IntegerField()
    failedJobs = serializers.IntegerField()
    processor = serializers.CharField(help_text="Snapshotted at start.")
    unitPrice = serializers.IntegerField(help_text="Credits per file, snapshotted at start from the price list.")
    priority = serializers.ChoiceField(
        choices=["interactive", "bulk"],
        allow_null=True,
        help_text="Claim lane: interactive work is claimed before bulk; tenants share each lane fairly.",
    )
    creditsConsumed = CreditsSerializer(help_text="Captured: what the run has cost so far.")
    creditsReserved = CreditsSerializer(help_text="Held for files whose round has not ended.")
    createdAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True)


class RunDetailSerializer(RunSummarySerializer):
    round = serializers.IntegerField()
    fileCounts = serializers.DictField(child=serializers.IntegerField())
    files = RunFileSerializer(many=True, help_text="The first 200 files; all of them at …/files.")
    filesTotal = serializers.IntegerField()
    canContinue = serializers.BooleanField()
    continueBlockedReason = serializers.CharField(allow_null=True)
    continueFiles = serializers.IntegerField(help_text="Files Continue would retry.")
    continueCreditsRequired = serializers.IntegerField(help_text="Credits Continue would reserve.")


class RetryResultSerializer(RunDetailSerializer):
    creditsReservedByContinue = CreditsSerializer(help_text="Reserved by this Continue (failed files x unit price).")
    retriedFiles = serializers.ListField(child=serializers.IntegerField())
    reservedFiles = serializers.IntegerField(help_text="Failed files reserved; pending files are free.")


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    run = serializers.UUIDField(allow_null=True, source="run_id")
    amount = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]
    reason = serializers.CharField()
    round = serializers.IntegerField(allow_null=True)
    files = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")


class CreditBalanceSerializer(serializers.Serializer):
    tenant = serializers.UUIDField()
    monthly = serializers.IntegerField()
    purchased = serializers.IntegerField()
    total = serializers.IntegerField()
    ledger = LedgerEntrySerializer(many=True)


class CreditGrantSerializer(serializers.Serializer):
    tenant = serializers.UUIDField()
    amount = serializers.IntegerField(min_value=1, max_value=1_000_000_000)
    source = serializers.ChoiceField(choices=CreditSource.choices)  # type: ignore[assignment]
    reason = serializers.ChoiceField(choices=[CreditReason.GRANT, CreditReason.PURCHASE], default=CreditReason.GRANT)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
