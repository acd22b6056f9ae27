import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from tenants.models import Tenant

from ..proxy_credentials import masked_url


class DnsPersona(models.Model):
    """How to resolve: which nameservers (`host` or `host:port`), query types and limits."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="dns_personas")
    name = models.CharField(max_length=200)
    nameservers = ArrayField(models.CharField(max_length=100))
    query_types = ArrayField(models.CharField(max_length=8), default=list)
    timeout_seconds = models.FloatField(default=2.0)
    retries = models.PositiveSmallIntegerField(default=1)
    concurrency = models.PositiveIntegerField(default=100)
    rate_limit_per_second = models.PositiveIntegerField(default=0, help_text="0: unlimited")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AddressFamily(models.TextChoices):
    IPV4_FIRST = "ipv4_first"
    IPV6_FIRST = "ipv6_first"
    IPV4_ONLY = "ipv4_only"
    IPV6_ONLY = "ipv6_only"


class HttpPersona(models.Model):
    """How to fetch: headers, user agent, limits, and the port/scheme to reach resolved addresses on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="http_personas")
    name = models.CharField(max_length=200)
    user_agent = models.CharField(max_length=500, default="RelayBot/1.0")
    headers = models.JSONField(default=dict, blank=True)
    scheme = models.CharField(max_length=5, choices=[("http", "http"), ("https", "https")], default="http")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: 80 for http, 443 for https.")
    timeout_seconds = models.FloatField(default=5.0)
    max_redirects = models.PositiveSmallIntegerField(default=5)
    max_body_bytes = models.PositiveIntegerField(default=262_144)
    concurrency = models.PositiveIntegerField(default=50)
    rate_limit_per_second = models.PositiveIntegerField(
        default=0, help_text="Requests per second across every worker; 0: unlimited"
    )
    verify_tls = models.BooleanField(
        default=True, help_text="https: check the certificate against the domain (off: accept any certificate)."
    )
    address_family = models.CharField(
        max_length=16,
        choices=AddressFamily.choices,
        default=AddressFamily.IPV4_FIRST,
        help_text="Which resolved addresses to connect to, in which order (the next one is tried when one fails).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Proxy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="proxies")
    name = models.CharField(max_length=200)
    url = models.CharField(max_length=500, help_text="http://host:port (credentials in the URL if any)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "proxies"

    def __str__(self) -> str:
        return self.name

    @property
    def masked_url(self) -> str:
        """The URL without its credentials: what the API and the admin show."""
        return masked_url(self.url)
