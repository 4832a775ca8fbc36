"""Property-based fuzzing of an HTTP face against its own OpenAPI document, with schemathesis.

Schemathesis generates requests from the document (valid ones, and in negative mode ones that break
the schema), sends them with ``requests`` and checks every response. Its calls block, so a test
runs :func:`fuzz` in a worker thread while the servers keep serving on the test's event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext, CheckFunction, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case

from cerebro.transcoding.handler import STREAM_CONTENT_TYPE


def fuzz(
    document: dict[str, Any],
    base_url: str,
    *,
    mode: GenerationMode,
    checks: Sequence[CheckFunction],
    examples_per_operation: int,
    headers: Mapping[str, str] | None = None,
    stream_timeout: str | None = None,
) -> int:
    """Fuzz every operation; raises at the first failing check (hypothesis shrinks it first). Returns the calls made.

    ``stream_timeout`` (a grpc-timeout value) is sent with calls of streaming operations, so that streams
    that never end by themselves (the real gateway's) end with their deadline. Generated strings include NUL
    characters, which every service refuses as INVALID_ARGUMENT (cerebro.runtime.interceptors).
    """
    schema = schemathesis.openapi.from_dict(document)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()) and not operation.body:
            continue  # nothing in the request to break
        sent_headers = dict(headers or {})
        if stream_timeout is not None and _is_streaming(operation.definition.raw):
            sent_headers["grpc-timeout"] = stream_timeout

        @settings(
            max_examples=examples_per_operation,
            deadline=None,
            derandomize=True,  # the same cases on every run: CI stays reproducible
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call_and_check(case: Case) -> None:
            nonlocal calls
            # Run at once, within this iteration: the loop variable is the one meant.
            response = case.call(base_url=base_url, headers=sent_headers, timeout=30)  # noqa: B023
            calls += 1
            case.validate_response(response, checks=list(checks))

        call_and_check()
    return calls


def _is_streaming(operation: Mapping[str, Any]) -> bool:
    return STREAM_CONTENT_TYPE in operation["responses"]["200"].get("content", {})


def no_server_error_but_unavailable(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Like not_a_server_error, but 503 passes: a dependency is down on purpose."""
    if response.status_code == 503:
        return True
    return not_a_server_error(ctx, response, case)
