import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tenants.models import Tenant


class ActiveTemplateManager(models.Manager["Template"]):
    """Hides archived templates: listings and new runs only ever see live ones."""

    def get_queryset(self) -> models.QuerySet["Template"]:
        return super().get_queryset().filter(archived_at__isnull=True)


class Template(models.Model):
    """What a run does to each file: a named processor with its config. The price is not the
    template's: it comes from the platform's price list (`ProcessorPrice`) and is snapshotted by the run.

    `tenant` is null for a platform-wide template. Archiving is a soft delete: runs that used the
    template keep loading it through `all_objects`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="templates")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    processor = models.CharField(max_length=64)
    processor_config = models.JSONField(default=dict, blank=True)
    max_attempts = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Automatic tries per file on retryable errors before the file is `failed`.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    all_objects = models.Manager()
    objects = ActiveTemplateManager()  # the default (Meta.default_manager_name): hides archived templates

    class Meta:
        ordering = ["name", "id"]
        default_manager_name = "objects"
        base_manager_name = "all_objects"  # a run's `template` relation loads archived templates too
        constraints = [
            models.CheckConstraint(
                name="template_max_attempts_1_10", condition=models.Q(max_attempts__gte=1, max_attempts__lte=10)
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
