"""Fuzzing the HTTP face (in front of the scripted gateway) against its OpenAPI document: no 5xx, ever.

Valid requests must also get responses that fit the document (schema and content type); requests
that break the schema must be refused with a 4xx, never crash the transcoder.
"""

from __future__ import annotations

import asyncio

from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.http.gateway_api import openapi_document, route_table
from tests.gateway_http.conftest import ScriptedFace
from tests.transcoding.fuzzing import fuzz

EXAMPLES_PER_OPERATION = 40


async def test_valid_requests_get_responses_that_fit_the_document(face: ScriptedFace) -> None:
    calls = await asyncio.to_thread(
        fuzz,
        openapi_document(route_table()),
        face.base_url,
        mode=GenerationMode.POSITIVE,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        examples_per_operation=EXAMPLES_PER_OPERATION,
    )
    assert calls > 300


async def test_requests_breaking_the_schema_never_cause_a_server_error(face: ScriptedFace) -> None:
    calls = await asyncio.to_thread(
        fuzz,
        openapi_document(route_table()),
        face.base_url,
        mode=GenerationMode.NEGATIVE,
        checks=[not_a_server_error],
        examples_per_operation=EXAMPLES_PER_OPERATION,
    )
    assert calls > 300
