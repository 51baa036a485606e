"""Web-site identity and HTML-to-text helpers shared by the web scanner parsers."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from services.ingest.parsers.model import Asset, AssetKind

__all__ = ("html_to_text", "url_path", "website_asset", "website_key")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_BLOCK_TAGS = re.compile(r"<\s*(?:br|/p|/li|/div|/h\d|/tr)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def website_key(url: str, *, port: int | None = None) -> str | None:
    """``scheme://host:port`` for `url` (default port filled in); None when it has no host.

    A URL without a scheme (``//host`` or ``host``) is taken as http, or https
    when `port` is 443.
    """
    text = url.strip()
    if "://" not in text:
        text = ("https:" if port == 443 else "http:") + (
            text if text.startswith("//") else "//" + text
        )
    parts = urlsplit(text)
    scheme = (parts.scheme or "http").lower()
    try:
        explicit = parts.port
    except ValueError:
        explicit = None
    host = parts.hostname
    if not host:
        return None
    chosen = explicit or port or _DEFAULT_PORTS.get(scheme, 80)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{chosen}"


def website_asset(url: str, *, address: str | None = None, port: int | None = None) -> Asset:
    """The web-site asset a URL belongs to, keyed ``scheme://host:port``."""
    key = website_key(url, port=port) or url.strip()
    host = urlsplit(key).hostname
    hostnames = (host,) if host and host != address else ()
    return Asset(kind=AssetKind.WEBSITE, key=key, address=address or None, hostnames=hostnames)


def url_path(url: str | None) -> str | None:
    """The path (with query) of `url`, ``/`` when it has none; None when `url` is empty."""
    if not url or not url.strip():
        return None
    text = url.strip()
    if "://" not in text and not text.startswith("/"):
        return text
    parts = urlsplit(text)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def html_to_text(value: str | None) -> str | None:
    """Readable plain text from a scanner's HTML fragment; None when nothing is left."""
    if value is None:
        return None
    text = _BLOCK_TAGS.sub("\n", value)
    text = html.unescape(_TAGS.sub("", text))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return text or None
