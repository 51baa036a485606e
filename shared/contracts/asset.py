"""Events of the asset context: hosts (and images, repositories, sites) and their services.

All events of one asset, its services included, share the stream
``asset-<asset_id>``, where the asset id is derived from the workspace, the
asset's kind and its key (see ``services.ingest.domain.asset_id``).
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from shared.contracts.base import Event, register

__all__ = (
    "AssetEvent",
    "HostChanged",
    "HostDetected",
    "ServiceChanged",
    "ServiceDetected",
    "asset_stream",
)


def asset_stream(asset_id: str) -> str:
    """The id of the stream that holds one asset and its services."""
    return f"asset-{asset_id}"


@register
class HostDetected(Event, frozen=True, tag="HostDetected"):
    """A scan reported an asset the workspace had never seen.

    `kind` is host, image, repository or website; `key` its scanner-independent
    identity (an address, ``name:tag``, a repository name, ``scheme://host:port``).
    """

    context: ClassVar[str] = "asset"

    workspace_id: str
    asset_id: str
    kind: str
    key: str
    scan_id: str
    first_seen: dt.datetime
    address: str | None = None
    hostnames: tuple[str, ...] = ()
    os: str | None = None
    mac: str | None = None


@register
class HostChanged(Event, frozen=True, tag="HostChanged"):
    """A later scan saw a known asset with different attributes (the new values, in full)."""

    context: ClassVar[str] = "asset"

    workspace_id: str
    asset_id: str
    scan_id: str
    seen_at: dt.datetime
    address: str | None = None
    hostnames: tuple[str, ...] = ()
    os: str | None = None
    mac: str | None = None


@register
class ServiceDetected(Event, frozen=True, tag="ServiceDetected"):
    """A scan reported a network service (port and protocol) new on its asset."""

    context: ClassVar[str] = "asset"

    workspace_id: str
    asset_id: str
    port: int
    protocol: str
    scan_id: str
    first_seen: dt.datetime
    state: str = "open"
    name: str | None = None
    product: str | None = None
    version: str | None = None


@register
class ServiceChanged(Event, frozen=True, tag="ServiceChanged"):
    """A later scan saw a known service with a different state, name, product or version."""

    context: ClassVar[str] = "asset"

    workspace_id: str
    asset_id: str
    port: int
    protocol: str
    scan_id: str
    seen_at: dt.datetime
    state: str = "open"
    name: str | None = None
    product: str | None = None
    version: str | None = None


AssetEvent = HostDetected | HostChanged | ServiceDetected | ServiceChanged
