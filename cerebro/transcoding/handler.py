"""The transcoder's request handler: find the route, build the request, call gRPC, answer in JSON.

- Unary methods answer ``200`` with the response message in proto3 JSON, or the mapped HTTP status
  with the ``google.rpc.Status`` as JSON (see :mod:`cerebro.transcoding.statuses`).
- Server-streaming methods answer ``200`` with ``application/x-ndjson``: one JSON object per line,
  ``{"result": <message>}`` for each message and, if the stream fails once started,
  ``{"error": <google.rpc.Status>}`` as the last line. A failure within the first
  :data:`FIRST_EVENT_WAIT_SECONDS` (bad credentials, bad input) is an ordinary HTTP error instead.
- The ``Authorization`` header (and W3C trace context, and the read token ``X-Cerebro-Min-Lsn``) is
  passed on as gRPC metadata, and with :class:`ClientAddress` the HTTP client's address too; a unary
  call's read token (trailing metadata ``x-cerebro-lsn``) comes back as the header ``X-Cerebro-Lsn``;
  the deadline comes from ``grpc-timeout`` or ``X-Request-Timeout``, else a default for unary calls
  (none for streams).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import Message
from google.rpc import status_pb2
from multidict import CIMultiDictProxy
from prometheus_client import Counter

from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER
from cerebro.runtime.errors import ServiceError, unauthenticated
from cerebro.transcoding.connections import status_response
from cerebro.transcoding.deadlines import request_timeout
from cerebro.transcoding.proxy import GrpcProxy, Metadata
from cerebro.transcoding.routes import Route, RouteTable
from cerebro.transcoding.statuses import status_json, status_of_rpc_error
from cerebro.transcoding.transcode import build_request, message_to_json

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
STREAM_CONTENT_TYPE = "application/x-ndjson"
# Headers passed on to the gRPC server as metadata: credentials, W3C trace context, the caller's read token.
FORWARDED_HEADERS = ("authorization", "traceparent", "tracestate", REQUIRED_HEADER)
# Trailing metadata of a unary call answered as HTTP headers: the read token of the call's writes.
RETURNED_TRAILERS = (WRITTEN_HEADER,)
# How long a stream's first message or failure is awaited before answering 200: long enough for the
# server to refuse bad credentials or input, short enough that an idle stream starts at once.
FIRST_EVENT_WAIT_SECONDS = 0.5

# gRPC metadata values must be printable ASCII.
_METADATA_VALUE = re.compile(r"^[\x20-\x7e]*$")
# Responses carry private memories: no intermediary may keep them.
_NO_STORE = {"Cache-Control": "no-store"}

HTTP_REQUESTS = Counter(
    "cerebro_http_transcoder_requests_total",
    "HTTP/JSON requests answered by the transcoder, by route and HTTP status (streams count when they start).",
    ["route", "status"],
)


@dataclass(frozen=True)
class ClientAddress:
    """Pass each HTTP client's address on to the gRPC server as metadata ``key: "<proof> <address>"``.

    Behind the transcoder every call comes from its own connection; with this, a server that knows the
    proof (a secret it shares with the transcoder) can count per client what it counts per address.
    """

    metadata_key: str
    proof: str


class HttpHandler:
    def __init__(
        self,
        table: RouteTable,
        proxy: GrpcProxy,
        documents: Mapping[str, bytes],
        *,
        default_timeout: float,
        read_timeout: float,
        client_address: ClientAddress | None = None,
    ) -> None:
        self._table = table
        self._client_address = client_address
        self._proxy = proxy
        self._documents = documents
        self._default_timeout = default_timeout
        self._read_timeout = read_timeout

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except ConnectionError:  # the client went away
            raise
        except Exception:  # a failure here still answers in the API's error form, never with a traceback
            log.exception("HTTP %s %s failed", request.method, request.path)
            error = ServiceError(grpc.StatusCode.INTERNAL, "internal error")
            return self._error("unmatched", error.to_status_proto())

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        if request.method == "GET" and path in self._documents:
            return self._answer(f"GET {path}", web.Response(body=self._documents[path], content_type=JSON_CONTENT_TYPE))
        found = self._table.match(request.method, path)
        if found is None:
            error = ServiceError(grpc.StatusCode.NOT_FOUND, f"no route for {request.method} {path}")
            return self._error("unmatched", error.to_status_proto())
        if isinstance(found, list):
            error = ServiceError(
                grpc.StatusCode.UNIMPLEMENTED, f"{request.method} is not allowed on {path}; allowed: {', '.join(found)}"
            )
            return self._error("unmatched", error.to_status_proto(), 405, {"Allow": ", ".join(found)})
        route = found.route
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge as too_large:
            error = ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"the body is over the limit: {too_large.text}")
            return self._error(route.label, error.to_status_proto(), 413)
        except TimeoutError:
            error = ServiceError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"the body did not arrive within {self._read_timeout:g} s"
            )
            response = self._error(route.label, error.to_status_proto(), 408)
            response.force_close()
            return response
        if body.strip() and not _is_json(request.headers):
            error = ServiceError(grpc.StatusCode.INVALID_ARGUMENT, f"the body must be {JSON_CONTENT_TYPE}")
            return self._error(route.label, error.to_status_proto(), 415)
        try:
            message = build_request(found, list(request.query.items()), body)
            default = None if route.method.server_streaming else self._default_timeout
            timeout = request_timeout(request.headers, default)
            metadata = forwarded_metadata(request.headers)
            if self._client_address is not None and request.remote:
                metadata.append((self._client_address.metadata_key, f"{self._client_address.proof} {request.remote}"))
        except ServiceError as error:
            return self._error(route.label, error.to_status_proto())
        if route.method.server_streaming:
            return await self._stream(request, route, message, timeout, metadata)
        try:
            reply, trailers = await self._proxy.unary(route, message, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as failure:
            return self._error(route.label, status_of_rpc_error(failure))
        response = _json_response(200, message_to_json(reply))
        for name, value in trailers:
            if name in RETURNED_TRAILERS:
                response.headers[name] = value
        return self._answer(route.label, response)

    async def _stream(
        self, request: web.BaseRequest, route: Route, message: Message, timeout: float | None, metadata: Metadata
    ) -> web.StreamResponse:
        call = self._proxy.stream(route, message, timeout=timeout, metadata=metadata)
        first = asyncio.ensure_future(call.read())
        try:
            await asyncio.wait({first}, timeout=FIRST_EVENT_WAIT_SECONDS)
            early_failure = first.exception() if first.done() else None
            if isinstance(early_failure, grpc.aio.AioRpcError):
                return self._error(route.label, status_of_rpc_error(early_failure))
            response = web.StreamResponse(headers={"Content-Type": STREAM_CONTENT_TYPE, **_NO_STORE})
            await response.prepare(request)
            HTTP_REQUESTS.labels(route.label, "200").inc()
            try:
                item = await first
                # Every message the stream reads is a Message; its end (grpc.aio.EOF) is not.
                while isinstance(item, Message):
                    await response.write(_line({"result": message_to_json(item)}))
                    item = await call.read()
            except grpc.aio.AioRpcError as failure:
                await response.write(_line({"error": status_json(status_of_rpc_error(failure))}))
            except ConnectionError:  # the client went away
                raise
            except Exception:  # after the 200 went out, a failure can only be the stream's last line
                log.exception("HTTP stream %s failed", route.label)
                internal = ServiceError(grpc.StatusCode.INTERNAL, "internal error").to_status_proto()
                await response.write(_line({"error": status_json(internal)}))
            await response.write_eof()
            return response
        finally:
            # Ends the gRPC stream when the HTTP client went away (or anything else stopped the handler).
            first.cancel()
            call.cancel()

    def _error(
        self,
        label: str,
        status: status_pb2.Status,
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        return self._answer(label, status_response(status, http_status, headers))

    @staticmethod
    def _answer(label: str, response: web.Response) -> web.Response:
        HTTP_REQUESTS.labels(label, str(response.status)).inc()
        return response


def forwarded_metadata(headers: CIMultiDictProxy[str]) -> list[tuple[str, str]]:
    """The headers passed on as metadata; UNAUTHENTICATED for an Authorization value gRPC cannot carry,
    or for more than one Authorization header."""
    credentials = headers.getall("authorization", ())
    if len(credentials) > 1:
        raise unauthenticated(f"send one Authorization header, not {len(credentials)}")
    metadata: list[tuple[str, str]] = []
    for name in FORWARDED_HEADERS:
        for value in headers.getall(name, ()):
            if _METADATA_VALUE.match(value):
                metadata.append((name, value))
            elif name == "authorization":
                raise unauthenticated("the Authorization header must be 'Bearer <API key>' in printable ASCII")
    return metadata


def _is_json(headers: CIMultiDictProxy[str]) -> bool:
    content_type = headers.get("Content-Type")
    if content_type is None:
        return True
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == JSON_CONTENT_TYPE or (media_type.startswith("application/") and media_type.endswith("+json"))


def _json_response(status: int, document: dict[str, Any]) -> web.Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return web.Response(status=status, body=body, content_type=JSON_CONTENT_TYPE, headers=_NO_STORE)


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
