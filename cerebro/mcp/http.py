"""`cerebro mcp --transport http`: MCP's streamable HTTP behind the agents' own API keys, over TLS.

Every HTTP request must carry ``Authorization: Bearer <API key>``; the gateway decides whether the key is
valid (:meth:`BearerClients.verify`), and the request's tools then call the gateway with it. A request
without one, or with one the gateway refuses, gets 401 and reaches no MCP code. The SDK binds each MCP
session to the key that opened it, so another key cannot use that session.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.mcpserver import MCPServer
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from cerebro.client import CerebroError, ResourceExhausted
from cerebro.mcp.gateway import BearerClients
from cerebro.mcp.settings import DEFAULT_PATH, ServingTls


class BearerGate:
    """ASGI middleware: an HTTP request passes only with a bearer token the gateway accepts."""

    def __init__(self, app: ASGIApp, clients: BearerClients) -> None:
        self._app = app
        self._clients = clients

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope))
        if token is None:
            await _refusal(401, "a Cerebro API key is required: Authorization: Bearer <key>")(scope, receive, send)
            return
        try:
            client = scope.get("client")
            access = await self._clients.verify(token, None if client is None else client[0])
        except ResourceExhausted as error:
            await _unavailable(429, error)(scope, receive, send)
            return
        except CerebroError as error:
            await _unavailable(503, error)(scope, receive, send)
            return
        if access is None:
            await _refusal(401, "the gateway refused this API key")(scope, receive, send)
            return
        scope["user"] = AuthenticatedUser(access)
        scope["auth"] = AuthCredentials(access.scopes)
        await self._app(scope, receive, send)


def bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _refusal(status: int, description: str) -> JSONResponse:
    # RFC 6750: the challenge names the scheme and why the token was not taken.
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


def _unavailable(status: int, error: CerebroError) -> JSONResponse:
    headers = {}
    if error.retry_delay_seconds is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_delay_seconds)))
    description = f"the gateway could not check the API key: {error.one_line()}"
    return JSONResponse(
        {"error": "temporarily_unavailable", "error_description": description}, status_code=status, headers=headers
    )


def http_app(server: MCPServer[object], clients: BearerClients, *, host: str, path: str = DEFAULT_PATH) -> ASGIApp:
    """The streamable HTTP app of ``server`` at ``path``, behind the bearer gate."""
    # `host` lets the SDK turn on its DNS-rebinding protection when it is loopback.
    app = server.streamable_http_app(streamable_http_path=path, host=host)
    return BearerGate(AuthContextMiddleware(app), clients)


async def serve_http(
    server: MCPServer[object],
    clients: BearerClients,
    *,
    host: str,
    port: int,
    tls: ServingTls | None,
    path: str = DEFAULT_PATH,
) -> None:
    """Serve until SIGINT or SIGTERM; says where on stderr once it listens."""
    config = uvicorn.Config(
        http_app(server, clients, host=host, path=path),
        host=host,
        port=port,
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if ":" in host else host
    try:
        await _AnnouncingServer(config, f"{scheme}://{shown}:{port}{path}").serve()
    finally:
        await clients.close()


class _AnnouncingServer(uvicorn.Server):
    """Says where it serves once it listens: a supervisor or a test waits for that line."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"cerebro mcp: serving MCP at {self._url}", file=sys.stderr, flush=True)
