"""Proposals, their frozen electorates, votes and equivocation evidence in PostgreSQL.

Every vote is judged (cerebro.consensus.rules): first here against what never changes (the frozen
electorate's keys, the options), then inside consensus_cast_vote (migration 0004), which holds the
proposal's row lock (SELECT ... FOR UPDATE), so votes arriving at several replicas at once are applied
one after another and the state leaves `open` exactly once. Creating a proposal and casting a vote
are one statement each: one network round trip to the primary.

Only enrolled instances propose, the electorate is the active voting instances whose registered key is
enrolled for a vote (migration 0002), and a voter whose enrolment was revoked since votes no more.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from cerebro.consensus.rules import Ballot, ProposalState, VoteVerdict, judge_vote
from cerebro.consensus.signatures import proposal_payload, verify
from cerebro.runtime.database import Connection
from cerebro.runtime.errors import (
    ServiceError,
    already_exists,
    failed_precondition,
    not_found,
    permission_denied,
    unauthenticated,
)
from cerebro.runtime.pagination import Key
from cerebro.runtime.replica_reads import ReplicaReads
from services.consensus.events import PROPOSALS_CHANNEL
from services.consensus.metrics import proposal_finished
from services.consensus.read_path import note_written

# A proposal's options and its electors' keys, as a vote is first checked against them.
_ELECTORATE = """
    SELECT d.options, array_agg(el.instance_id) AS ids, array_agg(el.public_key) AS keys
    FROM distributed_consensus d JOIN consensus_electors el USING (consensus_id)
    WHERE d.consensus_id = $1 GROUP BY d.options
"""

PROPOSAL_COLUMNS = """
    consensus_id, request_id, decision_topic, options, proposed_by, proposer_public_key, proposer_signature,
    deadline, electorate_size, quorum, final_decision, created_at,
    consensus_proposal_state(state, deadline, now()) AS state,
    CASE WHEN state = 'open' AND deadline <= now() THEN deadline ELSE resolved_at END AS resolved_at
"""


@dataclass(frozen=True)
class NewProposal:
    request_id: str
    topic: str
    options: list[str]
    deadline: datetime
    proposer_id: str
    proposer_signature: bytes


@dataclass(frozen=True)
class ProposalFilter:
    state: str | None
    proposer_id: str | None


@dataclass(frozen=True)
class ProposalRecord:
    """A proposal with its tally and, when loaded in full, what re-verifies its outcome."""

    row: asyncpg.Record | dict[str, Any]
    tally: dict[str, int]
    full: bool
    electors: list[asyncpg.Record] = field(default_factory=list)
    votes: list[asyncpg.Record] = field(default_factory=list)
    equivocations: Sequence[asyncpg.Record | dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> ProposalState:
        return ProposalState(self.row["state"])


@dataclass(frozen=True)
class VoteResult:
    verdict: VoteVerdict
    # As the vote left it; None for a vote refused before it reached the database.
    proposal: ProposalRecord | None


# Electorates kept for votes: a proposal's options and electors' keys never change once it exists.
MAX_KNOWN_ELECTORATES = 10_000


@dataclass(frozen=True)
class Electorate:
    """What a vote on a proposal is first checked against: its options and its electors' keys."""

    options: list[str]
    keys: dict[uuid.UUID, bytes]


class Proposals:
    def __init__(self, db: ReplicaReads, keys: dict[uuid.UUID, bytes]) -> None:
        """``keys``: each instance's public key as this replica last read it, shared with
        services.consensus.store.registry; a proposal signed with it is written in one statement. Writes
        (and what they check) go to ``db``'s primary; reads may go to its replica."""
        self._db = db
        self._pool = db.primary
        self._keys = keys
        # Proposal id -> its electorate, for the proposals this replica created or was voted on (oldest first).
        self._electorates: dict[uuid.UUID, Electorate] = {}

    async def create(self, proposal: NewProposal) -> ProposalRecord:
        """Creates the proposal with the electorate active now; a repeated request_id returns the first.

        One round trip (consensus_create_proposal, migration 0004) when the proposer's key is known
        here and signed it; one more to read the key otherwise.
        """
        proposer_id = uuid.UUID(proposal.proposer_id)
        payload = proposal_payload(
            request_id=proposal.request_id,
            proposer_id=proposal.proposer_id,
            topic=proposal.topic,
            options=proposal.options,
            deadline=proposal.deadline,
        )
        row = None
        for fresh in (False, True):
            try:
                key = await self._verified_key(proposer_id, payload, proposal.proposer_signature, fresh=fresh)
            except ServiceError:
                # A request_id used before is answered as before: its proposal again, or ALREADY_EXISTS.
                earlier = await self._earlier_request(proposal)
                if earlier is None:
                    raise
                return earlier
            row = await self._pool.fetchrow(
                "SELECT * FROM consensus_create_proposal($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                uuid.uuid4(),
                uuid.UUID(proposal.request_id),
                proposal.topic,
                proposal.options,
                proposer_id,
                key,
                proposal.proposer_signature,
                proposal.deadline,
                PROPOSALS_CHANNEL,
            )
            assert row is not None  # the function returns one row
            if row["outcome"] != "unverified":
                break
        assert row is not None
        made = row["outcome"]
        if made == "unverified":  # the proposer's key changed between reading it and the statement
            raise unauthenticated("proposal.proposer_signature does not verify with the proposer's key")
        if made == "no_proposer":
            raise not_found("instance", proposal.proposer_id)
        if made == "not_enrolled":
            raise permission_denied("only enrolled instances propose; the proposer's key is not enrolled")
        if made == "no_electorate":
            raise failed_precondition("no voting instance is active, so nobody could vote", "NO_ELECTORATE")
        if made == "request_reused":
            raise already_exists(
                "proposal", proposal.request_id, "request_id was already used for a different proposal"
            )
        note_written(row)
        self._know_electorate(
            row["consensus_id"],
            Electorate(row["options"], {e["instance_id"]: e["public_key"] for e in row["electors"]}),
        )
        votes = list(row["votes"])
        counted = {vote["voter_id"]: vote for vote in votes}
        return ProposalRecord(
            row,
            dict(Counter(vote["choice"] for vote in votes)),
            full=True,
            electors=list(row["electors"]),
            votes=votes,
            equivocations=[
                {
                    **dict(evidence.items()),
                    "counted_choice": counted[evidence["voter_id"]]["choice"],
                    "counted_signature": counted[evidence["voter_id"]]["signature"],
                    "counted_cast_at": counted[evidence["voter_id"]]["cast_at"],
                }
                for evidence in row["equivocations"]
            ],
        )

    async def cast_vote(self, ballot: Ballot) -> VoteResult:
        """Judges and applies one vote; evidence of equivocation is written even though the vote fails.

        The checks on what never changes (elector, signature, option) are made here against the
        proposal's electorate; the rest under the proposal's row lock by consensus_cast_vote (migration
        0004), in one round trip (one more when this replica has not seen the electorate yet). Returns
        the verdict and the proposal (basic view) as this vote left it, None when refused before.
        """
        proposal_id, voter_id = uuid.UUID(ballot.proposal_id), uuid.UUID(ballot.voter_id)
        row = None
        for fresh in (False, True):
            electorate = await self._electorate(proposal_id, fresh=fresh)
            elector_key = electorate.keys.get(voter_id)
            verdict = judge_vote(
                ballot, elector_key=elector_key, options=electorate.options, counted=None, accepting=True
            )
            if verdict is not VoteVerdict.ACCEPTED:
                return VoteResult(verdict, None)
            row = await self._pool.fetchrow(
                "SELECT * FROM consensus_cast_vote($1, $2, $3, $4, $5, $6)",
                proposal_id,
                voter_id,
                ballot.choice,
                ballot.signature,
                elector_key,
                PROPOSALS_CHANNEL,
            )
            assert row is not None  # the function returns one row
            if row["verdict"] != "unverified":
                break
        assert row is not None
        verdict_text = row["verdict"]
        if verdict_text == "not_found":
            raise not_found("proposal", ballot.proposal_id)
        if verdict_text == "unverified":  # an electorate never changes: read twice, it cannot differ
            raise unauthenticated("signature does not verify with the voter's key")
        if verdict_text == "revoked":
            raise permission_denied(f"the enrolment of instance {ballot.voter_id} was revoked; it votes no more")
        note_written(row)
        # Counted once the statement has committed: the row lock let only this one move the proposal out of open.
        if row["finished"] is not None:
            proposal_finished(row["finished"])
        return VoteResult(VoteVerdict(verdict_text), ProposalRecord(row, dict(Counter(row["choices"])), full=False))

    async def _earlier_request(self, proposal: NewProposal) -> ProposalRecord | None:
        """The proposal an earlier call created with this request_id, if any; ALREADY_EXISTS if it differs."""
        async with self._pool.acquire() as connection:
            existing = await connection.fetchrow(
                """
                SELECT consensus_id, proposed_by, decision_topic, options, deadline, proposer_signature
                FROM distributed_consensus WHERE request_id = $1
                """,
                uuid.UUID(proposal.request_id),
            )
            if existing is None:
                return None
            same = (
                str(existing["proposed_by"]) == proposal.proposer_id
                and existing["decision_topic"] == proposal.topic
                and existing["options"] == proposal.options
                and existing["deadline"] == proposal.deadline
                and existing["proposer_signature"] == proposal.proposer_signature
            )
            if not same:
                raise already_exists(
                    "proposal", proposal.request_id, "request_id was already used for a different proposal"
                )
            return await self._load_one(connection, existing["consensus_id"], full=True)

    async def _verified_key(self, proposer_id: uuid.UUID, payload: bytes, signature: bytes, *, fresh: bool) -> bytes:
        """The proposer's key, once it verifies ``signature``: the one known here, else (or when
        ``fresh``) the one registered now."""
        key = None if fresh else self._keys.get(proposer_id)
        if key is None or not verify(key, payload, signature):
            key = await self._pool.fetchval(
                "SELECT public_key FROM instance_network WHERE instance_id = $1", proposer_id
            )
            if key is None:
                raise not_found("instance", str(proposer_id))
            self._keys[proposer_id] = key
            if not verify(key, payload, signature):
                raise unauthenticated("proposal.proposer_signature does not verify with the proposer's key")
        return key

    async def _electorate(self, proposal_id: uuid.UUID, *, fresh: bool) -> Electorate:
        known = None if fresh else self._electorates.get(proposal_id)
        if known is not None:
            return known
        # An electorate never changes: the region's replica has it right once it has the proposal at all.
        row = None
        if self._db.replica is not None:
            async with self._db.reading() as connection:
                row = await connection.fetchrow(_ELECTORATE, proposal_id)
        if row is None:
            row = await self._pool.fetchrow(_ELECTORATE, proposal_id)
        if row is None:
            raise not_found("proposal", str(proposal_id))
        electorate = Electorate(row["options"], dict(zip(row["ids"], row["keys"], strict=True)))
        self._know_electorate(proposal_id, electorate)
        return electorate

    def _know_electorate(self, proposal_id: uuid.UUID, electorate: Electorate) -> None:
        self._electorates[proposal_id] = electorate
        if len(self._electorates) > MAX_KNOWN_ELECTORATES:
            del self._electorates[next(iter(self._electorates))]

    async def get(self, proposal_id: str, *, full: bool, latest: bool = False) -> ProposalRecord:
        """The proposal, read on the replica unless ``latest`` (the primary: a change just heard of)."""
        async with self._pool.acquire() if latest else self._db.reading() as connection:
            return await self._load_one(connection, uuid.UUID(proposal_id), full=full)

    async def list_proposals(
        self, where: ProposalFilter, after: Key | None, limit: int | None, *, full: bool
    ) -> list[ProposalRecord]:
        """Proposals newest first, after the sort key ``after`` (created_at, id); ``limit`` None means all."""
        after_time, after_id = after if after is not None else (None, None)
        async with self._db.reading() as connection:
            rows = await connection.fetch(
                f"""
                SELECT {PROPOSAL_COLUMNS} FROM distributed_consensus
                WHERE ($1::text IS NULL OR consensus_proposal_state(state, deadline, now()) = $1)
                  AND ($2::uuid IS NULL OR proposed_by = $2)
                  AND ($3::timestamptz IS NULL OR (created_at, consensus_id) < ($3, $4::uuid))
                ORDER BY created_at DESC, consensus_id DESC
                LIMIT $5
                """,
                where.state,
                uuid.UUID(where.proposer_id) if where.proposer_id else None,
                after_time,
                after_id,
                limit,
            )
            return await self._details(connection, rows, full=full)

    async def expire_due(self) -> int:
        """Writes and announces the expiry of open proposals past their deadline; returns how many.

        Safe on every replica at once: a proposal locked by a concurrent vote is re-checked after
        the vote commits, and one decided by it is left alone.
        """
        async with self._pool.acquire() as connection:
            expired = len(
                await connection.fetch(
                    """
                    WITH expired AS (
                        UPDATE distributed_consensus SET state = 'expired', resolved_at = deadline
                        WHERE state = 'open' AND deadline <= now()
                        RETURNING consensus_id
                    )
                    SELECT pg_notify($1, json_build_object('id', consensus_id, 'event', 'expired')::text)
                    FROM expired
                    """,
                    PROPOSALS_CHANNEL,
                )
            )
        proposal_finished(ProposalState.EXPIRED.value, expired)  # one statement: committed when it returned
        return expired

    async def _load_one(self, connection: Connection, proposal_id: uuid.UUID, *, full: bool) -> ProposalRecord:
        row = await connection.fetchrow(
            f"SELECT {PROPOSAL_COLUMNS} FROM distributed_consensus WHERE consensus_id = $1", proposal_id
        )
        if row is None:
            raise not_found("proposal", str(proposal_id))
        [record] = await self._details(connection, [row], full=full)
        return record

    async def _details(self, connection: Connection, rows: list[asyncpg.Record], *, full: bool) -> list[ProposalRecord]:
        """Tallies (and in full: electors, votes, evidence) of ``rows``, one query each for all of them."""
        ids = [row["consensus_id"] for row in rows]
        tallies: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        for tally_row in await connection.fetch(
            """
            SELECT consensus_id, choice, count(*)::int AS votes FROM consensus_votes
            WHERE consensus_id = ANY($1::uuid[]) GROUP BY consensus_id, choice
            """,
            ids,
        ):
            tallies[tally_row["consensus_id"]][tally_row["choice"]] = tally_row["votes"]
        if not full:
            return [ProposalRecord(row, tallies[row["consensus_id"]], full=False) for row in rows]
        electors = await self._grouped(
            connection,
            """
            SELECT consensus_id, instance_id, instance_name, public_key FROM consensus_electors
            WHERE consensus_id = ANY($1::uuid[]) ORDER BY instance_name, instance_id
            """,
            ids,
        )
        votes = await self._grouped(
            connection,
            """
            SELECT consensus_id, voter_id, choice, signature, cast_at FROM consensus_votes
            WHERE consensus_id = ANY($1::uuid[]) ORDER BY cast_at, voter_id
            """,
            ids,
        )
        equivocations = await self._grouped(
            connection,
            """
            SELECT e.consensus_id, e.voter_id, e.choice, e.signature, e.detected_at,
                   v.choice AS counted_choice, v.signature AS counted_signature, v.cast_at AS counted_cast_at
            FROM consensus_equivocations e JOIN consensus_votes v USING (consensus_id, voter_id)
            WHERE e.consensus_id = ANY($1::uuid[]) ORDER BY e.detected_at, e.voter_id, e.choice
            """,
            ids,
        )
        return [
            ProposalRecord(
                row,
                tallies[row["consensus_id"]],
                full=True,
                electors=electors[row["consensus_id"]],
                votes=votes[row["consensus_id"]],
                equivocations=equivocations[row["consensus_id"]],
            )
            for row in rows
        ]

    @staticmethod
    async def _grouped(
        connection: Connection, query: str, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[asyncpg.Record]]:
        grouped: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
        for row in await connection.fetch(query, ids):
            grouped[row["consensus_id"]].append(row)
        return grouped
