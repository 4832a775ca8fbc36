"""The MCP tests enrol voting agents on the shared `cerebro up`: revoked when the package ends, so the electorate
that the next suite on it counts is as found (as tests/bad_actors does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mcp.agents import ENROLLED, admin


@pytest.fixture(scope="package", autouse=True)
def revoke_enrolled_agents() -> Iterator[None]:
    yield
    while ENROLLED:
        up, name = ENROLLED.pop()
        admin(up, "instances", "revoke", name)
