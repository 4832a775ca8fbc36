"""Gateway errors as MCP errors: a tool error that names the tool's own argument, never a traceback.

The gateway names a bad field by its path in the request message (``filter.start_time``,
``block.value``); a tool that spells its arguments differently (``since``, ``value``) gives the renames,
so the agent reads the name it sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR

from cerebro.client import CerebroError, NotFound


def argument_name(field: str, renames: Mapping[str, str]) -> str:
    """``field`` (a request path, perhaps indexed: ``filter.tags[2]``) as the tool's argument is called."""
    for path in sorted(renames, key=len, reverse=True):
        if field == path or field.startswith((f"{path}.", f"{path}[")):
            return renames[path] + field.removeprefix(path)
    return field


def describe(error: CerebroError, renames: Mapping[str, str] = {}) -> str:
    """One line: the gRPC code, then each bad argument and why, or the gateway's message."""
    violations = error.field_violations
    if not violations:
        return error.one_line()
    named = "; ".join(f"{argument_name(item.field, renames)}: {item.description}" for item in violations)
    return f"{error.code.name}: {named}"


@contextmanager
def tool_errors(renames: Mapping[str, str] = {}) -> Iterator[None]:
    """Inside a tool: a failed gateway call becomes the tool's error result."""
    try:
        yield
    except CerebroError as error:
        raise ToolError(describe(error, renames)) from None


@contextmanager
def resource_errors(uri: str) -> Iterator[None]:
    """Inside a resource: a missing one is MCP's resource-not-found, any other failure a resource error."""
    try:
        yield
    except NotFound as error:
        raise ResourceNotFoundError(f"{uri}: {error.one_line()}") from None
    except CerebroError as error:
        raise ResourceError(f"{uri}: {error.one_line()}") from None


@contextmanager
def listing_errors(what: str) -> Iterator[None]:
    """Inside a list handler, which the SDK has no error result for: the protocol's error, with the reason."""
    try:
        yield
    except CerebroError as error:
        raise MCPError(code=INTERNAL_ERROR, message=f"listing {what} failed: {error.one_line()}") from None
