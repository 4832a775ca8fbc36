"""The AgentGateway's HTTP/JSON API: its route table and OpenAPI document, from the service descriptor.

``python -m services.gateway.http.gateway_api [PATH]`` writes the OpenAPI document (to stdout without
PATH); ``docs/openapi.json`` is made this way, and a test checks that it is current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cerebro.transcoding.openapi import build_openapi
from cerebro.transcoding.routes import RouteTable, build_route_table
from services.gateway.access import PUBLIC_METHODS, SERVICE

OPENAPI_PATH = "/openapi.json"

_DESCRIPTION = """\
The agent-facing API of the Cerebro mesh over HTTP/JSON: the same methods as the gRPC service
`cerebro.gateway.v1.AgentGateway`, transcoded by their `google.api.http` annotations.

Bodies and responses use protobuf's canonical JSON mapping: lowerCamelCase field names, 64-bit
integers as decimal strings, enums by name, timestamps as RFC 3339 strings. Unknown fields and values
of the wrong type are refused with 400 and a `google.rpc.BadRequest` naming each field. Every error is
a `google.rpc.Status` in JSON with the HTTP status of google.rpc's code mapping.

Send `Authorization: Bearer <API key>`. Deadlines: `grpc-timeout` (e.g. `500m`) or
`X-Request-Timeout` (seconds). Streaming methods answer newline-delimited JSON (`application/x-ndjson`).
"""


def route_table() -> RouteTable:
    return build_route_table(SERVICE)


def openapi_document(table: RouteTable) -> dict[str, Any]:
    return build_openapi(
        table,
        title="Cerebro AgentGateway",
        version="v1",
        description=_DESCRIPTION,
        public_methods=PUBLIC_METHODS,
        document_path=OPENAPI_PATH,
    )


def openapi_text(document: dict[str, Any]) -> str:
    """The document as stable, readable text (sorted keys) for the repository copy."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    text = openapi_text(openapi_document(route_table()))
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
