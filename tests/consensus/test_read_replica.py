"""Decisions and the registry read from a streaming replica, read-your-writes through the read token, and
a replica that lags or is cut (as tests/memory/test_read_replica.py does for the memory service).

The replica is a real hot standby of the test PostgreSQL; the consensus service reaches it through a
proxy the tests can cut. Replay is paused on it (pg_wal_replay_pause) to make it lag.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.embedded import EmbeddedPostgres
from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken
from tests.conftest import replica_caught_up, replica_session, replica_url
from tests.consensus.harness import ConsensusServer, Member, consensus_server, register_electorate
from tests.support import eventually
from tests.tcp_proxy import TcpProxy, proxied

WAIT_MS = 300


def reads(database: str, reason: str) -> float:
    """Reads counted so far (the instance gauges' reads in the background count too: no other read is
    "behind", as only a token makes a read wait)."""
    return REGISTRY.get_sample_value("consensus_reads_total", {"database": database, "reason": reason}) or 0.0


@pytest.fixture
async def replica_admin(
    fresh_database_url: str, streaming_replica: EmbeddedPostgres
) -> AsyncIterator[asyncpg.Connection]:
    async with replica_session(fresh_database_url, streaming_replica) as connection:
        yield connection


@pytest.fixture
async def replica_link(
    fresh_database_url: str, streaming_replica: EmbeddedPostgres, replica_admin: asyncpg.Connection
) -> AsyncIterator[tuple[TcpProxy, str]]:
    async with proxied(replica_url(streaming_replica, fresh_database_url)) as link:
        yield link


@pytest.fixture
async def split_consensus(
    fresh_database_url: str, tmp_path: Path, replica_link: tuple[TcpProxy, str]
) -> AsyncIterator[ConsensusServer]:
    """The consensus service writing to the primary and reading from the replica."""
    _, read_url = replica_link
    extra = {"CEREBRO_CONSENSUS_READ_DATABASE_URL": read_url, "CEREBRO_CONSENSUS_REPLICA_WAIT_MS": str(WAIT_MS)}
    async with consensus_server(fresh_database_url, tmp_path, extra) as server:
        yield server


async def vote(server: ConsensusServer, member: Member, proposal_id: str) -> str:
    """The read token the vote answered with."""
    call = server.stub.Vote(member.vote(proposal_id, "yes"))
    await call
    tokens = [value for key, value in await call.trailing_metadata() or () if key == WRITTEN_HEADER]
    assert len(tokens) == 1
    return str(tokens[0])


async def votes_seen(server: ConsensusServer, proposal_id: str, token: str | None) -> int:
    metadata = () if token is None else ((REQUIRED_HEADER, token),)
    proposal = (
        await server.stub.GetProposal(
            pb.GetProposalRequest(proposal_id=proposal_id, view=pb.PROPOSAL_VIEW_FULL), metadata=metadata
        )
    ).proposal
    return len(proposal.votes)


async def test_every_read_after_a_write_sees_it_and_the_replica_serves_reads(
    split_consensus: ConsensusServer,
) -> None:
    members = await register_electorate(split_consensus, 3)  # quorum 2: one vote leaves each open
    served_by_replica = reads("replica", "caught_up")
    previous: ReadToken | None = None
    for index in range(30):
        created = split_consensus.stub.CreateProposal(members[index % 3].propose(f"decision {index}"))
        proposal_id = (await created).proposal.proposal_id
        token = await vote(split_consensus, members[(index + 1) % 3], proposal_id)
        parsed = ReadToken.parse(token)
        assert parsed is not None and parsed.xid is not None
        assert previous is None or parsed.lsn > previous.lsn
        previous = parsed
        assert await votes_seen(split_consensus, proposal_id, token) == 1
    listed = await split_consensus.stub.ListProposals(
        pb.ListProposalsRequest(page_size=100), metadata=((REQUIRED_HEADER, str(previous)),)
    )
    assert len(listed.proposals) == 30 and all(sum(t.votes for t in p.tally) == 1 for p in listed.proposals)
    instance = await split_consensus.stub.GetInstance(
        pb.GetInstanceRequest(instance_id=members[0].instance_id), metadata=((REQUIRED_HEADER, str(previous)),)
    )
    assert instance.instance.instance_name == members[0].name
    assert reads("replica", "caught_up") > served_by_replica


async def test_a_lagging_replica_hands_a_voters_reads_to_the_primary(
    split_consensus: ConsensusServer, replica_admin: asyncpg.Connection, fresh_database_url: str
) -> None:
    members = await register_electorate(split_consensus, 3)
    proposal_id = (await split_consensus.stub.CreateProposal(members[0].propose())).proposal.proposal_id
    await replica_caught_up(fresh_database_url, replica_admin)
    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    await eventually(lambda: replica_admin.fetchval("SELECT pg_get_wal_replay_pause_state() = 'paused'"))
    token = await vote(split_consensus, members[1], proposal_id)

    # Without the token the read is the replica's, which has not seen the vote yet.
    assert await votes_seen(split_consensus, proposal_id, None) == 0
    # With it the read waits for the replica up to the bound, then goes to the primary: never stale.
    behind = reads("primary", "behind")
    assert await votes_seen(split_consensus, proposal_id, token) == 1
    assert reads("primary", "behind") == behind + 1
    await eventually(lambda: (REGISTRY.get_sample_value("consensus_replica_lag_bytes") or 0) > 0)

    await replica_admin.execute("SELECT pg_wal_replay_resume()")
    served_by_replica = reads("replica", "caught_up")
    assert await votes_seen(split_consensus, proposal_id, token) == 1
    assert reads("replica", "caught_up") > served_by_replica
    await eventually(lambda: REGISTRY.get_sample_value("consensus_replica_lag_bytes") == 0)


async def test_a_cut_replica_sends_every_read_to_the_primary(
    split_consensus: ConsensusServer, replica_link: tuple[TcpProxy, str]
) -> None:
    members = await register_electorate(split_consensus, 3)
    proposal_id = (await split_consensus.stub.CreateProposal(members[0].propose())).proposal.proposal_id
    proxy, _ = replica_link
    await proxy.cut()
    token = await vote(split_consensus, members[1], proposal_id)
    for carried in (token, None):
        assert await votes_seen(split_consensus, proposal_id, carried) == 1
    await eventually(lambda: REGISTRY.get_sample_value("consensus_replica_up") == 0)
    unreachable = reads("primary", "unreachable")
    assert await votes_seen(split_consensus, proposal_id, None) == 1
    assert reads("primary", "unreachable") > unreachable

    await proxy.start()
    await eventually(lambda: REGISTRY.get_sample_value("consensus_replica_up") == 1)
    served_by_replica = reads("replica", "caught_up")
    assert await votes_seen(split_consensus, proposal_id, token) == 1
    assert reads("replica", "caught_up") > served_by_replica
