"""The scan services. Importing this package registers every shipped one (see `registry`)."""

from . import accessibility, backlinks, links, meta, rank_tracker, schema, security_headers  # noqa: F401
from .registry import CheckSettings, ScanService, ScanTarget, all_services, get, names

__all__ = ["CheckSettings", "ScanService", "ScanTarget", "all_services", "get", "names"]
