"""Where a webhook may point, and how its requests are signed.

A webhook URL must be http or https with a host. Which addresses it may
reach is a policy read from ``VIGIL_WEBHOOK_ALLOW_PRIVATE``:

- ``loopback`` (the default, for a laptop and the tests): public addresses
  and the loopback interface; other private, link-local, multicast and
  reserved ranges are refused.
- ``false`` (``0``, ``no``, ``none``): public addresses only. **Use this in
  production**, so that a trigger cannot reach the cluster's internal
  services or a cloud metadata endpoint.
- ``true`` (``1``, ``yes``, ``all``): any address (a closed lab network).

The gateway checks literal addresses when a trigger is saved; the triggers
service checks every address a host name resolves to before each request.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import urllib.parse
from enum import StrEnum

__all__ = (
    "SIGNATURE_HEADER",
    "AddressPolicy",
    "InvalidTarget",
    "address_refusal",
    "check_webhook_url",
    "sign",
)

SIGNATURE_HEADER = "X-Vigil-Signature"
_POLICY_VARIABLE = "VIGIL_WEBHOOK_ALLOW_PRIVATE"


class InvalidTarget(ValueError):
    """A webhook target is malformed or not allowed; the message says why."""


class AddressPolicy(StrEnum):
    """Which non-public addresses webhooks may reach."""

    PUBLIC_ONLY = "false"
    LOOPBACK = "loopback"
    ANY = "true"

    @classmethod
    def from_env(cls) -> AddressPolicy:
        """The policy ``VIGIL_WEBHOOK_ALLOW_PRIVATE`` names (default: loopback)."""
        raw = (os.environ.get(_POLICY_VARIABLE) or "loopback").strip().lower()
        if raw in ("0", "false", "no", "none", "off"):
            return cls.PUBLIC_ONLY
        if raw in ("1", "true", "yes", "all", "on"):
            return cls.ANY
        return cls.LOOPBACK


def address_refusal(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: AddressPolicy
) -> str | None:
    """Why `policy` refuses `address`, or None when it may be reached."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if policy is AddressPolicy.ANY or address.is_global:
        return None
    if address.is_loopback and policy is AddressPolicy.LOOPBACK:
        return None
    return (
        f"{address} is not a public address; webhooks to private networks are disabled"
        f" ({_POLICY_VARIABLE}={policy.value})"
    )


def check_webhook_url(url: str, policy: AddressPolicy) -> urllib.parse.SplitResult:
    """Parse a webhook URL and refuse what is never allowed.

    Host names are not resolved here (the sender checks what they resolve
    to); literal addresses and ``localhost`` are checked against `policy`.

    Raises:
        InvalidTarget: not http(s), no host, credentials in the URL, or a refused address.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidTarget(f"the webhook URL is malformed: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget(f"a webhook URL must be http or https, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise InvalidTarget("the webhook URL has no host")
    if parts.username or parts.password:
        raise InvalidTarget("the webhook URL must not carry credentials; sign with the secret")
    if port == 0:
        raise InvalidTarget("the webhook URL's port must not be 0")
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return parts
    if (refusal := address_refusal(address, policy)) is not None:
        raise InvalidTarget(refusal)
    return parts


def sign(secret: str, body: bytes) -> str:
    """The ``X-Vigil-Signature`` value of `body`: ``sha256=<hex HMAC-SHA256 under secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
