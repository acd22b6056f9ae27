"""A proxy URL may carry credentials (`http://user:password@host:port`). They are written, never read
back: the API and the admin show the URL with its user and password replaced by `***`."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return parts.username is not None or parts.password is not None


def masked_url(url: str) -> str:
    """The URL without its credentials (`http://***:***@host:port`); unchanged when it has none."""
    try:
        parts = urlsplit(url)
        if not has_credentials(url):
            return url
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # an unreadable URL: show nothing of it rather than risk its secret
        return MASK
    userinfo = MASK if parts.password is None else f"{MASK}:{MASK}"
    return urlunsplit((parts.scheme, f"{userinfo}@{host}{port}", parts.path, parts.query, ""))
