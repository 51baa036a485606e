"""Bearer-token authentication for every route but health and readiness, HTTP and WebSocket.

The middleware turns a token into a `Principal` (``request.user``) or
answers 401 with a Bearer challenge. WebSocket clients may also pass the
token as ``?token=`` or as the subprotocol ``bearer.<token>`` (browsers
cannot set headers on a WebSocket); a refused WebSocket handshake gets a
real HTTP 401/403 response where the server supports the ASGI denial
extension, else a close code of 4000 + the HTTP status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.plugins import InitPlugin
from litestar.plugins.problem_details import ProblemDetailsException

from services.api.errors import forbidden, problem, unauthorized
from services.api.tokens import Principal, Role, verify_token

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.handlers.base import BaseRouteHandler
    from litestar.types import Receive, Scope, Send

    from shared.runtime import Runtime

__all__ = (
    "AuthPlugin",
    "BearerTokenMiddleware",
    "Credential",
    "admin_only",
    "deny_websocket",
    "principal_of",
)

SUBPROTOCOL_PREFIX = "bearer."
PUBLIC_PATHS = ("^/health$", "^/ready$")
_encode = msgspec.json.Encoder().encode


class Credential(msgspec.Struct, frozen=True):
    """How the token arrived; a WebSocket handshake must echo `subprotocol` when set."""

    source: str
    subprotocol: str | None = None


def _bearer_header(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def _credential(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, Credential]:
    token = _bearer_header(connection)
    if token is not None or connection.scope["type"] != ScopeType.WEBSOCKET:
        return token, Credential("header")
    if query_token := connection.query_params.get("token"):
        return query_token, Credential("query")
    for offered in connection.scope.get("subprotocols", []):
        if offered.startswith(SUBPROTOCOL_PREFIX):
            return offered.removeprefix(SUBPROTOCOL_PREFIX), Credential("subprotocol", offered)
    return None, Credential("none")


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates each request by its API token against ``api_tokens``."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """The principal behind the request's token.

        Raises:
            ProblemDetailsException: 401 for a missing, malformed, unknown or revoked token.
        """
        token, credential = _credential(connection)
        if token is None:
            raise unauthorized(
                "This endpoint needs an API token: send 'Authorization: Bearer <token>'."
            )
        runtime: Runtime | None = connection.app.state.get("runtime")
        if runtime is None:
            raise problem(503, "The gateway is starting or stopping; try again shortly.")
        async with runtime.pool.acquire() as conn:
            principal = await verify_token(conn, token)
        if principal is None:
            raise unauthorized("The API token is not valid, or it has been revoked.")
        return AuthenticationResult(user=principal, auth=credential)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate; a refused WebSocket is denied before its handshake completes."""
        if scope["type"] != ScopeType.WEBSOCKET:
            await super().__call__(scope, receive, send)
            return
        try:
            result = await self.authenticate_request(ASGIConnection(scope))
        except ProblemDetailsException as refusal:
            await deny_websocket(scope, send, refusal)
            return
        scope["user"] = result.user
        scope["auth"] = result.auth
        await self.app(scope, receive, send)


async def deny_websocket(scope: Scope, send: Send, refusal: ProblemDetailsException) -> None:
    """Refuse a WebSocket handshake with an HTTP problem response (or a 4xxx close code)."""
    extensions: dict[str, Any] = scope.get("extensions") or {}
    if "websocket.http.response" not in extensions:
        reason = str(refusal.detail)[:120]
        code = 4000 + refusal.status_code
        await send({"type": "websocket.close", "code": code, "reason": reason})
        return
    body = _encode(
        {"status": refusal.status_code, "title": refusal.title, "detail": refusal.detail}
    )
    headers = [(b"content-type", b"application/problem+json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in (refusal.headers or {}).items()]
    await send(
        {
            "type": "websocket.http.response.start",
            "status": refusal.status_code,
            "headers": headers,
        }
    )
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated principal of a connection that went through the middleware."""
    user = connection.scope.get("user")
    assert isinstance(user, Principal), "route is not behind BearerTokenMiddleware"
    return user


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only admin tokens pass."""
    if principal_of(connection).role is not Role.ADMIN:
        raise forbidden("Only an admin token may do this.")


class AuthPlugin(InitPlugin):
    """Puts `BearerTokenMiddleware` in front of every route, /metrics and /schema included."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the middleware; only liveness and readiness answer without a token."""
        app_config.middleware.append(
            DefineMiddleware(BearerTokenMiddleware, exclude=list(PUBLIC_PATHS))
        )
        return app_config
