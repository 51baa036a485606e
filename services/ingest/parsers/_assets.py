"""How the text parsers name assets: hosts, web sites, images and repositories.

One place decides the identity rules, so a web site seen by nuclei, ZAP and
nikto gets the same key (``scheme://host:port``) and findings merge.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple
from urllib.parse import urlsplit

from services.ingest.parsers.model import Asset, AssetKind

__all__ = ("WebTarget", "host_asset", "image_asset", "repository_asset", "web_target")

_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebTarget(NamedTuple):
    """A URL split into the web site it belongs to and the path inside it."""

    asset: Asset
    port: int
    path: str


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_asset(address: str | None = None, hostname: str | None = None) -> Asset | None:
    """A HOST asset keyed by IP address, or by hostname when no address is known.

    A hostname that is itself an IP address counts as the address. None when neither is given.
    """
    address = (address or "").strip() or None
    hostname = (hostname or "").strip().lower() or None
    if address is None and hostname is not None and _is_ip(hostname):
        address, hostname = hostname, None
    key = address or hostname
    if key is None:
        return None
    hostnames = (hostname,) if hostname and hostname != address else ()
    return Asset(kind=AssetKind.HOST, key=key, address=address, hostnames=hostnames)


def web_target(url: str | None, address: str | None = None) -> WebTarget | None:
    """The web site (``scheme://host:port``, lower-case, default port explicit) of `url`.

    None when `url` is not an absolute http(s) URL.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    port = port or _DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    address = (address or "").strip() or (host if _is_ip(host) else None)
    asset = Asset(
        kind=AssetKind.WEBSITE,
        key=f"{scheme}://{shown}:{port}",
        address=address,
        hostnames=() if _is_ip(host) else (host,),
    )
    return WebTarget(asset, port, path)


def image_asset(name: str) -> Asset:
    """An IMAGE asset keyed ``name:tag`` (``:latest`` added when the reference has no tag)."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last:
        name = f"{name}:latest"
    return Asset(kind=AssetKind.IMAGE, key=name)


def repository_asset(name: str) -> Asset:
    """A REPOSITORY asset keyed by repository URL, project path or tool-chosen name."""
    return Asset(kind=AssetKind.REPOSITORY, key=name.strip())
