"""Where the owner migrates (`cerebro migrate`), consensus applies no migration and works as its own role."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.database import migrate
from cerebro.runtime.database_roles import enable_role_logins
from services.consensus.main import SCHEMA
from tests.consensus.harness import consensus_server, next_message, register_electorate
from tests.support import eventually

ROLE = "cerebro_consensus"


def login_url(owner_url: str, role: str, password: str) -> str:
    parts = urlsplit(owner_url)
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}"))


async def sessions(owner_url: str) -> set[tuple[str, str]]:
    """(user, application) of every session on the test's database."""
    connection = await asyncpg.connect(owner_url)
    try:
        rows = await connection.fetch(
            "SELECT usename, application_name FROM pg_stat_activity WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return {(row["usename"], row["application_name"]) for row in rows}


async def test_without_migrations_it_votes_and_watches_as_the_consensus_role(
    fresh_database_url: str, tmp_path: Path
) -> None:
    await migrate(fresh_database_url, SCHEMA)
    password = secrets.token_urlsafe(16)
    await enable_role_logins(fresh_database_url, {ROLE: password})
    role_url = login_url(fresh_database_url, ROLE, password)
    environ = {"CEREBRO_CONSENSUS_APPLY_MIGRATIONS": "false"}
    async with consensus_server(role_url, tmp_path, environ, operator_url=fresh_database_url) as server:
        voters = await register_electorate(server, 3)
        proposal = (await server.stub.CreateProposal(voters[0].propose())).proposal
        watch = server.stub.WatchProposals(pb.WatchProposalsRequest(proposal_id=proposal.proposal_id), timeout=30)
        assert (await next_message(watch)).event_type == pb.PROPOSAL_EVENT_TYPE_EXISTING
        # Each vote is heard through the listening connection; the second decides.
        for voter in voters[:2]:
            await server.stub.Vote(voter.vote(proposal.proposal_id, "yes"))
            assert (await next_message(watch)).event_type == pb.PROPOSAL_EVENT_TYPE_VOTED
        decided = await server.stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal.proposal_id))
        assert decided.proposal.state == pb.PROPOSAL_STATE_DECIDED
        # Queries and the listening connection alike; nothing of the service connects as the owner.
        await eventually(lambda: _has_listener_as(fresh_database_url, ROLE))
        assert {user for user, application in await sessions(fresh_database_url) if application} <= {ROLE}


async def _has_listener_as(owner_url: str, role: str) -> bool:
    return (role, "cerebro consensus listener") in await sessions(owner_url)


async def test_it_refuses_to_start_as_the_role_while_told_to_migrate(fresh_database_url: str, tmp_path: Path) -> None:
    """The role may not create tables: starting with migrations on is a configuration mistake, not a hang."""
    await migrate(fresh_database_url, SCHEMA)
    password = secrets.token_urlsafe(16)
    await enable_role_logins(fresh_database_url, {ROLE: password})
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with consensus_server(login_url(fresh_database_url, ROLE, password), tmp_path):
            pass
