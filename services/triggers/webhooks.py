"""Delivering a firing to a webhook: signed, timed out, retried with exponential backoff."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import TYPE_CHECKING

import httpx
import msgspec

from shared.triggers.targets import (
    SIGNATURE_HEADER,
    AddressPolicy,
    InvalidTarget,
    address_refusal,
    check_webhook_url,
    sign,
)

if TYPE_CHECKING:
    import uuid

    from shared.contracts.trigger import WebhookAction

__all__ = ("EVENT_ID_HEADER", "Delivery", "deliver", "resolve_and_check")

EVENT_ID_HEADER = "X-Vigil-Event-Id"
_MAX_BACKOFF = 60.0
_RETRYABLE = frozenset({408, 425, 429})


class Delivery(msgspec.Struct, frozen=True):
    """How a delivery ended: `text` is the detail of a success or the reason of a failure."""

    ok: bool
    attempts: int
    text: str


async def resolve_and_check(url: str, policy: AddressPolicy) -> None:
    """Refuse a URL whose host resolves to an address `policy` does not allow.

    Raises:
        InvalidTarget: the URL is not allowed, or its host does not resolve.
    """
    parts = check_webhook_url(url, policy)
    if policy is AddressPolicy.ANY:
        return
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError as error:
        raise InvalidTarget(f"cannot resolve {host}: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if (refusal := address_refusal(address, policy)) is not None:
            raise InvalidTarget(f"{host} resolves to {refusal}")


async def _attempt(
    http: httpx.AsyncClient, hook: WebhookAction, body: bytes, headers: dict[str, str]
) -> tuple[bool | None, str]:
    """One POST: (True, detail), (None, reason) when worth retrying, or (False, reason)."""
    try:
        response = await http.post(
            hook.url, content=body, headers=headers, timeout=hook.timeout_seconds
        )
    except httpx.TimeoutException:
        return None, f"timed out after {hook.timeout_seconds:g} s"
    except httpx.TransportError as error:
        return None, f"connection failed: {error or type(error).__name__}"
    status = response.status_code
    if 200 <= status < 300:
        return True, f"HTTP {status}"
    if status >= 500 or status in _RETRYABLE:
        return None, f"HTTP {status}"
    if 300 <= status < 400:
        return False, f"HTTP {status} (redirects are not followed)"
    return False, f"HTTP {status}"


async def deliver(
    http: httpx.AsyncClient,
    hook: WebhookAction,
    body: bytes,
    *,
    event_id: uuid.UUID,
    policy: AddressPolicy,
) -> Delivery:
    """POST `body` to the webhook until it answers 2xx or `hook.max_attempts` are spent.

    Each request carries ``X-Vigil-Signature`` (HMAC-SHA256 of the exact
    body under the trigger's secret) and ``X-Vigil-Event-Id`` (the same on
    every retry, so the receiver can drop duplicates). 5xx, 408, 425, 429,
    timeouts and connection errors are retried after ``backoff_seconds``,
    doubled each time; other answers fail at once.
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "vigil-triggers",
        SIGNATURE_HEADER: sign(hook.secret, body),
        EVENT_ID_HEADER: str(event_id),
    }
    reason = "not attempted"
    for attempt in range(1, hook.max_attempts + 1):
        try:
            await resolve_and_check(hook.url, policy)
        except InvalidTarget as refusal:
            return Delivery(False, attempt, f"refused: {refusal}")
        ok, text = await _attempt(http, hook, body, headers)
        if ok:
            return Delivery(True, attempt, text)
        reason = text
        if ok is False:
            return Delivery(False, attempt, text)
        if attempt < hook.max_attempts:
            await asyncio.sleep(min(hook.backoff_seconds * 2 ** (attempt - 1), _MAX_BACKOFF))
    return Delivery(
        False, hook.max_attempts, f"{reason}; gave up after {hook.max_attempts} attempts"
    )
