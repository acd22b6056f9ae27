"""Per-domain rows. Every writer upserts on the natural key, so a re-run batch never duplicates rows.

The `campaign` foreign keys have no index of their own: each table has a composite index that starts
with `campaign`, which serves the same lookups, and every extra index is paid on each of the millions
of rows a campaign writes."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F

from .campaign import Campaign


class GeneratedDomain(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="domains", db_index=False)
    seq = models.PositiveIntegerField(help_text="0-based position in the campaign (batches are seq ranges).")
    offset = models.BigIntegerField(help_text="Index in the combination space.")
    name = models.CharField(max_length=253)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="generated_domain_name_unique"),
            models.UniqueConstraint(fields=["campaign", "seq"], name="generated_domain_seq_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class DnsStatus(models.TextChoices):
    RESOLVED = "resolved"
    NXDOMAIN = "nxdomain"
    TIMEOUT = "timeout"
    ERROR = "error"


class DnsResult(models.Model):
    domain = models.OneToOneField(GeneratedDomain, primary_key=True, on_delete=models.CASCADE, related_name="dns")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=DnsStatus.choices)
    addresses = ArrayField(models.CharField(max_length=64), default=list)
    error = models.CharField(max_length=200, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["campaign", "seq"], name="dns_result_campaign_seq")]

    def __str__(self) -> str:
        return f"{self.domain_id} dns {self.status}"


class HttpResult(models.Model):
    domain = models.OneToOneField(GeneratedDomain, primary_key=True, on_delete=models.CASCADE, related_name="http")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    status = models.CharField(max_length=16, help_text="ok, timeout or error")
    status_code = models.PositiveSmallIntegerField(null=True)
    final_url = models.CharField(max_length=2000, blank=True)
    title = models.CharField(max_length=500, blank=True)
    signals = models.JSONField(default=dict)
    keyword_hits = models.JSONField(default=dict)
    error = models.CharField(max_length=200, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["campaign", "seq"], name="http_result_campaign_seq")]

    def __str__(self) -> str:
        return f"{self.domain_id} http {self.status_code}"


class DomainScore(models.Model):
    domain = models.OneToOneField(GeneratedDomain, primary_key=True, on_delete=models.CASCADE, related_name="score")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    score = models.IntegerField()
    keyword_matched = models.BooleanField()
    reasons = ArrayField(models.CharField(max_length=32), default=list)

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "-score"], name="domain_score_rank"),
            # The CSV's keyset (-score, seq): one ascending order, so a row comparison bounds the range.
            models.Index(F("campaign"), -F("score"), F("seq"), name="domain_score_keyset"),
        ]

    def __str__(self) -> str:
        return f"{self.domain_id} score {self.score}"


class CampaignReport(models.Model):
    campaign = models.OneToOneField(Campaign, primary_key=True, on_delete=models.CASCADE, related_name="report")
    report = models.JSONField()
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"report {self.campaign_id}"
