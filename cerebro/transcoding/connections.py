"""The transcoder's connections: aiohttp's low-level server with the limits an edge needs.

- **Errors in the API's form, even before a request exists.** aiohttp answers a request it cannot
  parse (a 10 KB request line, a malformed header) from ``RequestHandler.handle_error`` with a
  plain-text body. :class:`StatusRequestHandler` overrides that hook, so those answers are a
  ``google.rpc.Status`` like every other error, and never echo the offending bytes.
- **A read timeout on the request head (slowloris).** aiohttp closes a connection whose next request
  head has not fully arrived ``keepalive_timeout`` seconds after it opened or after its previous
  response; that timeout is the read timeout, so a client trickling a head byte by byte is cut
  off, and so is a connection left idle.
- **A cap on connections per client address.** A connection over the cap is answered 429
  (RESOURCE_EXHAUSTED with RetryInfo) at its first request and closed. Behind a proxy every client
  shares the proxy's address; size the cap for it, or cap at the proxy.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from google.rpc import status_pb2

from cerebro.runtime.errors import ServiceError, resource_exhausted
from cerebro.transcoding.statuses import error_reply

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
# How soon a client refused for holding too many connections may try again.
RETRY_AFTER_SECONDS = 1.0

# What was wrong with a request aiohttp could not parse, in words that do not quote the request.
_PARSE_PROBLEMS: tuple[tuple[type[Exception], str], ...] = (
    (http_exceptions.LineTooLong, "a line of the request head is too long"),
    (http_exceptions.BadStatusLine, "the request line is malformed"),
    (http_exceptions.InvalidHeader, "a header is malformed"),
    (http_exceptions.InvalidURLError, "the request target is malformed"),
    (http_exceptions.PayloadEncodingError, "the body's transfer encoding is malformed"),
)
_CODES_BY_HTTP_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    431: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

RequestHandlerFunction = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def status_response(
    status: status_pb2.Status, http_status: int | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An error response: the mapped HTTP status (or ``http_status``), and ``status`` as JSON for body."""
    reply = error_reply(status, http_status)
    # ASCII: error texts may quote the client's input, lone surrogates included.
    body = json.dumps(reply.body).encode("ascii")
    # Responses carry private memories: no intermediary may keep them, errors included.
    all_headers = {**reply.headers, **(headers or {}), "Cache-Control": "no-store"}
    return web.Response(status=reply.http_status, body=body, content_type=JSON_CONTENT_TYPE, headers=all_headers)


class StatusRequestHandler(RequestHandler):
    """aiohttp's connection protocol, answering the errors it raises itself with a google.rpc.Status."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("HTTP request from %s failed", request.remote, exc_info=exc)
        else:
            log.debug("unparseable HTTP request from %s: %s", request.remote, message or exc)
        if request.writer.output_size > 0:
            # Part of a response went out already: the connection is broken and can only be closed.
            raise ConnectionError("a response was partly sent; cannot send an error after it")
        default = grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.INVALID_ARGUMENT
        code = _CODES_BY_HTTP_STATUS.get(status, default)
        text = "internal error" if status >= 500 else f"the request is not valid HTTP/1.1: {_parse_problem(exc)}"
        response = status_response(ServiceError(code, text).to_status_proto(), status)
        response.force_close()
        return response


def _parse_problem(exc: BaseException | None) -> str:
    for kind, problem in _PARSE_PROBLEMS:
        if isinstance(exc, kind):
            return problem
    return "it is malformed"


class GuardedServer(web.Server):
    """aiohttp's low-level server, whose connections are :class:`StatusRequestHandler` and capped per client."""

    def __init__(
        self,
        handler: RequestHandlerFunction,
        *,
        max_connections_per_client: int,
        read_timeout_seconds: float,
        client_max_size: int,
        **kwargs: Any,
    ) -> None:
        handler_options = {**kwargs, "keepalive_timeout": read_timeout_seconds}
        super().__init__(self._handle, request_factory=self._new_request, **handler_options)
        self._handler_options = {key: value for key, value in handler_options.items() if key != "handler_cancellation"}
        self._inner_handler = handler
        self._max_per_client = max_connections_per_client
        self._client_max_size = client_max_size
        self._open: Counter[str] = Counter()
        self._client_of: dict[RequestHandler, str] = {}
        self._over_cap: set[RequestHandler] = set()

    def __call__(self) -> RequestHandler:
        return StatusRequestHandler(self, loop=asyncio.get_running_loop(), **self._handler_options)

    def open_connections(self, client: str) -> int:
        return self._open[client]

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        client = _client_address(transport)
        self._client_of[handler] = client
        if self._open[client] >= self._max_per_client:
            self._over_cap.add(handler)
        self._open[client] += 1

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._over_cap.discard(handler)
        client = self._client_of.pop(handler, None)
        if client is not None:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]

    def _new_request(
        self,
        message: Any,
        payload: Any,
        protocol: RequestHandler,
        writer: Any,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, asyncio.get_running_loop(), client_max_size=self._client_max_size
        )

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.protocol in self._over_cap:
            client = self._client_of.get(request.protocol, "?")
            error = resource_exhausted(
                f"this client already has {self._max_per_client} connections open; close some or wait",
                RETRY_AFTER_SECONDS,
            )
            log.warning("refused a connection from %s: over the cap of %d", client, self._max_per_client)
            response = status_response(error.to_status_proto())
            response.force_close()
            return response
        return await self._inner_handler(request)


def _client_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"
