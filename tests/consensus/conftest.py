"""A consensus server on a fresh database for each test that asks for one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.consensus.harness import ConsensusServer, consensus_server


@pytest.fixture
async def consensus(fresh_database_url: str, tmp_path: Path) -> AsyncIterator[ConsensusServer]:
    async with consensus_server(fresh_database_url, tmp_path) as server:
        yield server
