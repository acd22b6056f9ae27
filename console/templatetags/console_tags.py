from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """`values|get:field.name`: a dict's item (None when absent)."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def seconds(value: float | None) -> str:
    """A duration as people read it: 42s, 3m 5s, 2h 10m."""
    if value is None:
        return "-"
    total = round(value)
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m {total % 60}s"
    return f"{total // 3600}h {total % 3600 // 60}m"


@register.filter
def label(value: str | None) -> str:
    """`dns_validation` → `dns validation`."""
    return (value or "").replace("_", " ")
