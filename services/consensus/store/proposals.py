"""Proposals, their frozen electorates, votes and equivocation evidence in PostgreSQL.

Every vote is judged (cerebro.consensus.rules) inside a transaction that holds the proposal's row
lock (SELECT ... FOR UPDATE), so votes arriving at several replicas at once are applied one after
another and the state leaves `open` exactly once.

Only enrolled instances propose, the electorate is the active voting instances whose registered key is
enrolled for a vote (migration 0002), and a voter whose enrolment was revoked since votes no more.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from cerebro.consensus.rules import Ballot, Outcome, ProposalState, VoteVerdict, judge_vote, outcome, quorum
from cerebro.consensus.signatures import proposal_payload, verify
from cerebro.runtime.database import Connection
from cerebro.runtime.errors import already_exists, failed_precondition, not_found, permission_denied, unauthenticated
from cerebro.runtime.pagination import Key
from services.consensus.events import PROPOSALS_CHANNEL, notify_change
from services.consensus.metrics import proposal_finished

# Conditions on an instance_network row aliased `n`: its name is actively enrolled for its key (for a vote).
_ENROLLED = """EXISTS (
    SELECT 1 FROM instance_enrollments e
    WHERE e.instance_name = n.instance_name AND e.public_key = n.public_key AND e.revoked_at IS NULL)"""
_ENROLLED_VOTER = """EXISTS (
    SELECT 1 FROM instance_enrollments e
    WHERE e.instance_name = n.instance_name AND e.public_key = n.public_key AND e.revoked_at IS NULL AND e.voting)"""

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
    equivocations: list[asyncpg.Record] = field(default_factory=list)

    @property
    def state(self) -> ProposalState:
        return ProposalState(self.row["state"])


@dataclass(frozen=True)
class VoteResult:
    verdict: VoteVerdict
    proposal: ProposalRecord


class Proposals:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, proposal: NewProposal) -> ProposalRecord:
        """Creates the proposal with the electorate active now; a repeated request_id returns the first."""
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                proposal_id = await self._find_request(connection, proposal)
                if proposal_id is None:
                    proposal_id = await self._insert(connection, proposal)
            return await self._load_one(connection, proposal_id, full=True)

    async def cast_vote(self, ballot: Ballot) -> VoteResult:
        """Judges and applies one vote; evidence of equivocation is written even though the vote fails.

        Returns the verdict and the proposal (basic view) as this vote left it.
        """
        proposal_id = uuid.UUID(ballot.proposal_id)
        finished: ProposalState | None = None  # the outcome this vote's transaction writes, if any
        async with self._pool.acquire() as connection, connection.transaction():
            locked = await connection.fetchrow(
                f"""
                SELECT {PROPOSAL_COLUMNS}, state AS stored_state, deadline <= clock_timestamp() AS deadline_passed,
                       now() AS db_now
                FROM distributed_consensus WHERE consensus_id = $1 FOR UPDATE
                """,
                proposal_id,
            )
            if locked is None:
                raise not_found("proposal", ballot.proposal_id)
            elector_key, still_enrolled, counted, tally = await self._voter_and_tally(connection, ballot)
            if elector_key is not None and not still_enrolled:
                raise permission_denied(f"the enrolment of instance {ballot.voter_id} was revoked; it votes no more")
            stored_state = ProposalState(locked["stored_state"])
            verdict = judge_vote(
                ballot,
                elector_key=elector_key,
                options=locked["options"],
                counted=counted,
                accepting=stored_state is ProposalState.OPEN and not locked["deadline_passed"],
            )
            row = dict(locked)
            if verdict is VoteVerdict.ACCEPTED:
                tally[ballot.choice] += 1
                result = outcome(locked["electorate_size"], locked["options"], tally, deadline_passed=False)
                await self._count(connection, ballot, result)
                if result.state is not ProposalState.OPEN:
                    finished = result.state
                    row.update(
                        state=result.state.value, final_decision=result.decided_option, resolved_at=locked["db_now"]
                    )
            elif verdict is VoteVerdict.EQUIVOCATION:
                await self._keep_evidence(connection, ballot)
            elif verdict is VoteVerdict.CLOSED and stored_state is ProposalState.OPEN:
                await self._expire(connection, proposal_id)
                finished = ProposalState.EXPIRED
                row.update(state=ProposalState.EXPIRED.value, resolved_at=locked["deadline"])
        # Counted once the transaction has committed: the row lock let only this one move the proposal out of open.
        if finished is not None:
            proposal_finished(finished.value)
        return VoteResult(verdict, ProposalRecord(row, dict(tally), full=False))

    async def get(self, proposal_id: str, *, full: bool) -> ProposalRecord:
        async with self._pool.acquire() as connection:
            return await self._load_one(connection, uuid.UUID(proposal_id), full=full)

    async def list_proposals(
        self, where: ProposalFilter, after: Key | None, limit: int | None, *, full: bool
    ) -> list[ProposalRecord]:
        """Proposals newest first, after the sort key ``after`` (created_at, id); ``limit`` None means all."""
        after_time, after_id = after if after is not None else (None, None)
        async with self._pool.acquire() as connection:
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

    async def _find_request(self, connection: Connection, proposal: NewProposal) -> uuid.UUID | None:
        """The id of the proposal an earlier call created with this request_id, if it is the same request."""
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
        existing_id: uuid.UUID = existing["consensus_id"]
        return existing_id

    async def _insert(self, connection: Connection, proposal: NewProposal) -> uuid.UUID:
        proposer = await connection.fetchrow(
            f"SELECT public_key, {_ENROLLED} AS enrolled FROM instance_network n WHERE instance_id = $1",
            uuid.UUID(proposal.proposer_id),
        )
        if proposer is None:
            raise not_found("instance", proposal.proposer_id)
        proposer_key = proposer["public_key"]
        payload = proposal_payload(
            request_id=proposal.request_id,
            proposer_id=proposal.proposer_id,
            topic=proposal.topic,
            options=proposal.options,
            deadline=proposal.deadline,
        )
        if not verify(proposer_key, payload, proposal.proposer_signature):
            raise unauthenticated("proposal.proposer_signature does not verify with the proposer's key")
        if not proposer["enrolled"]:
            raise permission_denied("only enrolled instances propose; the proposer's key is not enrolled")
        electors = await connection.fetch(
            f"""
            SELECT instance_id, instance_name, public_key FROM instance_network n
            WHERE voting AND consensus_instance_status(deregistered, lease_expire_time, offline_time, now()) = 'active'
              AND {_ENROLLED_VOTER}
            ORDER BY instance_id
            """
        )
        if not electors:
            raise failed_precondition("no voting instance is active, so nobody could vote", "NO_ELECTORATE")
        proposal_id: uuid.UUID | None = await connection.fetchval(
            """
            INSERT INTO distributed_consensus (
                consensus_id, request_id, decision_topic, options, proposed_by, proposer_public_key,
                proposer_signature, deadline, electorate_size, quorum, state)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open')
            ON CONFLICT (request_id) DO NOTHING
            RETURNING consensus_id
            """,
            uuid.uuid4(),
            uuid.UUID(proposal.request_id),
            proposal.topic,
            proposal.options,
            uuid.UUID(proposal.proposer_id),
            proposer_key,
            proposal.proposer_signature,
            proposal.deadline,
            len(electors),
            quorum(len(electors)),
        )
        if proposal_id is None:  # the same request_id committed concurrently by another call
            existing = await self._find_request(connection, proposal)
            assert existing is not None
            return existing
        await connection.executemany(
            "INSERT INTO consensus_electors (consensus_id, instance_id, instance_name, public_key) "
            "VALUES ($1, $2, $3, $4)",
            [(proposal_id, row["instance_id"], row["instance_name"], row["public_key"]) for row in electors],
        )
        await notify_change(connection, PROPOSALS_CHANNEL, str(proposal_id), "created")
        return proposal_id

    @staticmethod
    async def _voter_and_tally(
        connection: Connection, ballot: Ballot
    ) -> tuple[bytes | None, bool, Ballot | None, Counter[str]]:
        """The voter's key in the electorate, whether it is still enrolled, its counted vote, and the tally,
        in one round trip.

        Called after the proposal's row lock is granted: as a statement of its own, it sees the votes
        committed by the transactions this one waited for.
        """
        found = await connection.fetchrow(
            """
            SELECT
                (SELECT public_key FROM consensus_electors WHERE consensus_id = $1 AND instance_id = $2)
                    AS elector_key,
                EXISTS (
                    SELECT 1 FROM consensus_electors el JOIN instance_enrollments e
                        ON e.instance_name = el.instance_name AND e.public_key = el.public_key
                    WHERE el.consensus_id = $1 AND el.instance_id = $2 AND e.revoked_at IS NULL
                ) AS still_enrolled,
                (SELECT row(choice, signature) FROM consensus_votes WHERE consensus_id = $1 AND voter_id = $2)
                    AS counted,
                (SELECT coalesce(array_agg(choice), '{}') FROM consensus_votes WHERE consensus_id = $1)
                    AS choices
            """,
            uuid.UUID(ballot.proposal_id),
            uuid.UUID(ballot.voter_id),
        )
        assert found is not None  # a SELECT without FROM returns one row
        counted = None
        if found["counted"] is not None:
            choice, signature = found["counted"]
            counted = Ballot(ballot.proposal_id, ballot.voter_id, choice, signature)
        return found["elector_key"], found["still_enrolled"], counted, Counter(found["choices"])

    async def _count(self, connection: Connection, ballot: Ballot, result: Outcome) -> None:
        """Inserts the vote, writes the outcome it reached, and announces it: one round trip."""
        await connection.execute(
            """
            WITH vote AS (
                INSERT INTO consensus_votes (consensus_id, voter_id, choice, signature) VALUES ($1, $2, $3, $4)
            ), outcome AS (
                UPDATE distributed_consensus SET state = $5, final_decision = $6, resolved_at = now()
                WHERE consensus_id = $1 AND $5 <> 'open'
            )
            SELECT pg_notify($7, json_build_object('id', $1::uuid, 'event', 'voted')::text)
            """,
            uuid.UUID(ballot.proposal_id),
            uuid.UUID(ballot.voter_id),
            ballot.choice,
            ballot.signature,
            result.state.value,
            result.decided_option,
            PROPOSALS_CHANNEL,
        )

    async def _keep_evidence(self, connection: Connection, ballot: Ballot) -> None:
        recorded = await connection.fetchval(
            """
            INSERT INTO consensus_equivocations (consensus_id, voter_id, choice, signature)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING
            RETURNING voter_id
            """,
            uuid.UUID(ballot.proposal_id),
            uuid.UUID(ballot.voter_id),
            ballot.choice,
            ballot.signature,
        )
        if recorded is not None:
            await notify_change(connection, PROPOSALS_CHANNEL, ballot.proposal_id, "equivocation")

    async def _expire(self, connection: Connection, proposal_id: uuid.UUID) -> None:
        await connection.execute(
            "UPDATE distributed_consensus SET state = 'expired', resolved_at = deadline WHERE consensus_id = $1",
            proposal_id,
        )
        await notify_change(connection, PROPOSALS_CHANNEL, str(proposal_id), "expired")

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
