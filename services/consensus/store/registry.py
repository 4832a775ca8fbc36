"""The instance network in PostgreSQL: registrations with leases, signed and replay-proof.

An instance's status is derived from its lease by `consensus_instance_status()` (migration 0001)
whenever it is read, so it is exact whatever replica answers; :meth:`Registry.announce_status_changes`
writes the transitions that time alone causes, so that watchers hear about them. Who may register
what is decided by services.consensus.admission, against the enrolments of migration 0002.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from cerebro.consensus.signatures import deregistration_payload, heartbeat_payload, registration_payload, verify
from cerebro.runtime.database import Connection
from cerebro.runtime.errors import ServiceError, already_exists, failed_precondition, not_found, unauthenticated
from cerebro.runtime.pagination import Key
from cerebro.runtime.replica_reads import ReplicaReads
from cerebro.runtime.roles import Role
from services.consensus.admission import refusal
from services.consensus.events import INSTANCES_CHANNEL, notify_change
from services.consensus.read_path import note_written
from services.consensus.settings import ConsensusSettings
from services.consensus.store.enrollment import Enrolled


@dataclass(frozen=True)
class Registration:
    instance_name: str
    instance_type: str
    region: str
    capabilities: list[str]
    endpoints: list[str]
    public_key: bytes
    voting: bool
    sign_time: datetime
    signature: bytes


@dataclass(frozen=True)
class SignedInstanceRequest:
    """A heartbeat or a deregistration: the instance, when it signed, and its signature."""

    instance_id: str
    sign_time: datetime
    signature: bytes


@dataclass(frozen=True)
class InstanceFilter:
    status: str | None
    region: str | None
    capability: str | None


INSTANCE_COLUMNS = """
    instance_id, instance_name, instance_type, location, capabilities, endpoints, public_key, voting,
    consensus_instance_status(deregistered, lease_expire_time, offline_time, now()) AS status,
    lease_expire_time, offline_time, last_sync, created_at, updated_at
"""

# Columns a signed request is checked against, read with the row locked.
_SIGNED_STATE = """
    SELECT instance_id, public_key, deregistered, last_sign_time, last_signature, announced_status, now() AS db_now
    FROM instance_network
"""

_RENEW_LEASE = """
    last_sync = now(),
    lease_expire_time = now() + $2::double precision * interval '1 second',
    offline_time = now() + $3::double precision * interval '1 second',
    announced_status = 'active'
"""


# A heartbeat in one statement, for an instance whose key this replica has seen: the signature was
# verified with that key, and the lease is renewed only if the row still has it, is not deregistered,
# the request is newer than the last accepted one and signed within the clock skew limit. No row
# back: the locked way (:meth:`Registry.heartbeat`) decides, and says exactly why when it refuses.
_HEARTBEAT_IN_ONE_STATEMENT = f"""
    WITH locked AS (
        SELECT instance_id AS locked_id, announced_status AS was_status FROM instance_network
        WHERE instance_id = $1 AND public_key = $6 AND NOT deregistered AND last_sign_time < $4
          AND abs(extract(epoch FROM now() - $4::timestamptz)) <= $7
        FOR UPDATE
    ), renewed AS (
        UPDATE instance_network SET last_sign_time = $4, last_signature = $5,
            updated_at = CASE WHEN announced_status = 'active' THEN updated_at ELSE now() END,
            {_RENEW_LEASE}
        FROM locked WHERE instance_id = locked_id
        RETURNING {INSTANCE_COLUMNS}, was_status
    ), announced AS (
        SELECT pg_notify($8, json_build_object('id', instance_id, 'event', 'status_changed')::text)
        FROM renewed WHERE was_status <> 'active'
    )
    SELECT renewed.*, pg_current_wal_insert_lsn() AS written_lsn, pg_current_xact_id_if_assigned() AS written_xid
    FROM renewed LEFT JOIN announced ON true
"""


# A deregistration in one statement, for an instance whose key this replica has seen, on the same terms
# as the heartbeat's: no row back, and the locked way (:meth:`Registry.deregister`) decides.
_DEREGISTER_IN_ONE_STATEMENT = f"""
    WITH locked AS (
        SELECT instance_id AS locked_id, deregistered AS was_deregistered FROM instance_network
        WHERE instance_id = $1 AND public_key = $4 AND last_sign_time < $2
          AND abs(extract(epoch FROM now() - $2::timestamptz)) <= $5
        FOR UPDATE
    ), gone AS (
        UPDATE instance_network SET deregistered = true, announced_status = 'offline',
            last_sign_time = $2, last_signature = $3, updated_at = now()
        FROM locked WHERE instance_id = locked_id
        RETURNING {INSTANCE_COLUMNS}, was_deregistered
    ), announced AS (
        SELECT pg_notify($6, json_build_object('id', instance_id, 'event', 'deregistered')::text)
        FROM gone WHERE NOT was_deregistered
    )
    SELECT gone.*, pg_current_wal_insert_lsn() AS written_lsn, pg_current_xact_id_if_assigned() AS written_xid
    FROM gone LEFT JOIN announced ON true
"""


class Registry:
    def __init__(self, db: ReplicaReads, settings: ConsensusSettings, keys: dict[uuid.UUID, bytes]) -> None:
        """``keys``: each instance's public key as this replica last read it (instance id -> key), shared
        with services.consensus.store.proposals. A request verified with it needs one statement, which
        writes only while the row still has that key. Writes go to ``db``'s primary; reads may go to its
        replica (services.consensus.read_path)."""
        self._db = db
        self._pool = db.primary
        self._settings = settings
        self._keys = keys

    async def register(
        self, registration: Registration, registrant: Role | None, roles_verified: bool
    ) -> tuple[asyncpg.Record, bool]:
        """The registered instance, and whether this call created it: one round trip
        (consensus_register, migration 0004).

        ``registrant`` is the role the caller's certificate proves, ``roles_verified`` whether this
        server verifies certificates at all (see services.consensus.admission). Admission is decided
        here for each enrolment the name can have; the statement applies it to the one it finds.
        """
        payload = registration_payload(
            instance_name=registration.instance_name,
            instance_type=registration.instance_type,
            region=registration.region,
            capabilities=registration.capabilities,
            endpoints=registration.endpoints,
            public_key=registration.public_key,
            voting=registration.voting,
            sign_time=registration.sign_time,
        )
        if not verify(registration.public_key, payload, registration.signature):
            raise unauthenticated("signature does not verify with instance.public_key")
        key = registration.public_key

        def admitted(enrolled: Enrolled | None) -> bool:
            return refusal(registration, enrolled, registrant, roles_verified) is None

        row = await self._pool.fetchrow(
            "SELECT * FROM consensus_register("
            "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            uuid.uuid4(),
            registration.instance_name,
            registration.instance_type,
            registration.region,
            registration.capabilities,
            registration.endpoints,
            key,
            registration.voting,
            registration.sign_time,
            registration.signature,
            self._settings.lease_ttl_seconds,
            self._settings.offline_after_seconds,
            self._settings.max_clock_skew_seconds,
            admitted(None),
            admitted(Enrolled(key, voting=True)),
            admitted(Enrolled(key, voting=False)),
            INSTANCES_CHANNEL,
        )
        assert row is not None  # the function returns one row
        outcome = row["outcome"]
        if outcome == "refused":
            found = None if row["enrolled_key"] is None else Enrolled(row["enrolled_key"], row["enrolled_voting"])
            error = refusal(registration, found, registrant, roles_verified)
            assert error is not None  # the statement refused what admission refuses for that enrolment
            raise error
        if outcome == "clock_skew":
            raise self._clock_skew(registration.sign_time, row["db_now"])
        if outcome == "name_taken":
            raise already_exists(
                "instance",
                registration.instance_name,
                f"instance name {registration.instance_name!r} is registered with another key",
            )
        if outcome == "stale":
            raise _stale_request()
        self._keys[row["instance_id"]] = key
        note_written(row)
        return row, outcome == "created"

    async def heartbeat(self, request: SignedInstanceRequest) -> asyncpg.Record:
        """Renews the lease; a standby or offline instance becomes active again.

        One round trip when the instance's key is known here and the request is in order; else the
        instance's row is locked and checked first (more round trips, each refusal explained).
        """
        instance_id = uuid.UUID(request.instance_id)
        payload = heartbeat_payload(request.instance_id, request.sign_time)
        known_key = self._keys.get(instance_id)
        if known_key is not None and verify(known_key, payload, request.signature):
            renewed = await self._pool.fetchrow(
                _HEARTBEAT_IN_ONE_STATEMENT,
                instance_id,
                self._settings.lease_ttl_seconds,
                self._settings.offline_after_seconds,
                request.sign_time,
                request.signature,
                known_key,
                self._settings.max_clock_skew_seconds,
                INSTANCES_CHANNEL,
            )
            if renewed is not None:
                note_written(renewed)
                return renewed
        async with self._pool.acquire() as connection, connection.transaction():
            current = await self._lock_signed(connection, request, payload)
            self._keys[instance_id] = current["public_key"]
            if current["deregistered"]:
                raise failed_precondition(
                    "the instance is deregistered; register it again", "DEREGISTERED", request.instance_id
                )
            if self._is_new(current, request.sign_time, request.signature):
                was_active = current["announced_status"] == "active"
                await connection.execute(
                    f"""
                    UPDATE instance_network SET last_sign_time = $4, last_signature = $5,
                        updated_at = CASE WHEN announced_status = 'active' THEN updated_at ELSE now() END,
                        {_RENEW_LEASE}
                    WHERE instance_id = $1
                    """,
                    current["instance_id"],
                    self._settings.lease_ttl_seconds,
                    self._settings.offline_after_seconds,
                    request.sign_time,
                    request.signature,
                )
                if not was_active:
                    await notify_change(connection, INSTANCES_CHANNEL, request.instance_id, "status_changed")
            return await self._fetch(connection, current["instance_id"])

    async def deregister(self, request: SignedInstanceRequest) -> asyncpg.Record:
        """Marks the instance offline at once: one round trip when the instance's key is known here and
        the request is in order, else the locked way (as :meth:`heartbeat`)."""
        instance_id = uuid.UUID(request.instance_id)
        payload = deregistration_payload(request.instance_id, request.sign_time)
        known_key = self._keys.get(instance_id)
        if known_key is not None and verify(known_key, payload, request.signature):
            gone = await self._pool.fetchrow(
                _DEREGISTER_IN_ONE_STATEMENT,
                instance_id,
                request.sign_time,
                request.signature,
                known_key,
                self._settings.max_clock_skew_seconds,
                INSTANCES_CHANNEL,
            )
            if gone is not None:
                note_written(gone)
                return gone
        async with self._pool.acquire() as connection, connection.transaction():
            current = await self._lock_signed(connection, request, payload)
            self._keys[instance_id] = current["public_key"]
            if self._is_new(current, request.sign_time, request.signature):
                await connection.execute(
                    """
                    UPDATE instance_network SET deregistered = true, announced_status = 'offline',
                        last_sign_time = $2, last_signature = $3, updated_at = now()
                    WHERE instance_id = $1
                    """,
                    current["instance_id"],
                    request.sign_time,
                    request.signature,
                )
                if not current["deregistered"]:
                    await notify_change(connection, INSTANCES_CHANNEL, request.instance_id, "deregistered")
            return await self._fetch(connection, current["instance_id"])

    async def get(self, instance_id: str, *, latest: bool = False) -> asyncpg.Record:
        """The instance, read on the replica unless ``latest`` (the primary: a change just heard of)."""
        async with self._pool.acquire() if latest else self._db.reading() as connection:
            row = await connection.fetchrow(
                f"SELECT {INSTANCE_COLUMNS} FROM instance_network WHERE instance_id = $1", uuid.UUID(instance_id)
            )
        if row is None:
            raise not_found("instance", instance_id)
        return row

    async def list_instances(self, where: InstanceFilter, after: Key | None, limit: int | None) -> list[asyncpg.Record]:
        """Instances ordered by name, after the sort key ``after`` (a name); ``limit`` None means all."""
        async with self._db.reading() as connection:
            return await connection.fetch(
                f"""
                SELECT {INSTANCE_COLUMNS} FROM instance_network
                WHERE ($1::text IS NULL
                       OR consensus_instance_status(deregistered, lease_expire_time, offline_time, now()) = $1)
                  AND ($2::text IS NULL OR location = $2)
                  AND ($3::text IS NULL OR capabilities @> ARRAY[$3::text])
                  AND ($4::text IS NULL OR instance_name > $4)
                ORDER BY instance_name
                LIMIT $5
                """,
                where.status,
                where.region,
                where.capability,
                after[0] if after is not None else None,
                limit,
            )

    async def count_by_status_and_region(self) -> dict[tuple[str, str], int]:
        """How many instances have each (status, region), status derived from the lease as of now."""
        async with self._db.reading() as connection:
            rows = await connection.fetch(
                """
                SELECT consensus_instance_status(deregistered, lease_expire_time, offline_time, now()) AS status,
                       location AS region, count(*)::int AS instances
                FROM instance_network GROUP BY 1, 2
                """
            )
        return {(row["status"], row["region"]): row["instances"] for row in rows}

    async def announce_status_changes(self) -> int:
        """Writes and announces the status changes caused by time (leases running out); returns how many.

        Safe on every replica at once: the UPDATE re-checks each row after locking it, so each
        transition is written and announced by exactly one of them.
        """
        async with self._pool.acquire() as connection:
            return len(
                await connection.fetch(
                    """
                    WITH changed AS (
                        UPDATE instance_network
                        SET announced_status = consensus_instance_status(
                                deregistered, lease_expire_time, offline_time, now()),
                            updated_at = now()
                        WHERE announced_status <> consensus_instance_status(
                                deregistered, lease_expire_time, offline_time, now())
                        RETURNING instance_id
                    )
                    SELECT pg_notify($1, json_build_object('id', instance_id, 'event', 'status_changed')::text)
                    FROM changed
                    """,
                    INSTANCES_CHANNEL,
                )
            )

    async def _lock_signed(
        self, connection: Connection, request: SignedInstanceRequest, payload: bytes
    ) -> asyncpg.Record:
        """The instance row, locked, once the request's signature and freshness are checked."""
        current = await connection.fetchrow(
            f"{_SIGNED_STATE} WHERE instance_id = $1 FOR UPDATE", uuid.UUID(request.instance_id)
        )
        if current is None:
            raise not_found("instance", request.instance_id)
        if not verify(current["public_key"], payload, request.signature):
            raise unauthenticated("signature does not verify with the instance's registered key")
        self._check_clock(request.sign_time, current["db_now"])
        return current

    def _check_clock(self, sign_time: datetime, db_now: datetime) -> None:
        if abs(db_now - sign_time) > timedelta(seconds=self._settings.max_clock_skew_seconds):
            raise self._clock_skew(sign_time, db_now)

    def _clock_skew(self, sign_time: datetime, db_now: datetime) -> ServiceError:
        limit = timedelta(seconds=self._settings.max_clock_skew_seconds)
        return failed_precondition(
            f"sign_time is {abs(db_now - sign_time).total_seconds():.1f} s away from the server's clock; "
            f"at most {limit.total_seconds():.0f} s is accepted",
            "CLOCK_SKEW",
            "sign_time",
        )

    @staticmethod
    def _is_new(current: asyncpg.Record, sign_time: datetime, signature: bytes) -> bool:
        """True for a request newer than the last accepted one, False for that same request again."""
        if sign_time > current["last_sign_time"]:
            return True
        if sign_time == current["last_sign_time"] and signature == current["last_signature"]:
            return False
        raise _stale_request()

    @staticmethod
    async def _fetch(connection: Connection, instance_id: uuid.UUID) -> asyncpg.Record:
        """An instance this transaction has just written; the transaction's read token is noted."""
        row = await connection.fetchrow(
            f"""
            SELECT {INSTANCE_COLUMNS}, pg_current_wal_insert_lsn() AS written_lsn,
                   pg_current_xact_id_if_assigned() AS written_xid
            FROM instance_network WHERE instance_id = $1
            """,
            instance_id,
        )
        assert row is not None
        note_written(row)
        return row


def _stale_request() -> ServiceError:
    return failed_precondition(
        "sign_time is older than the instance's last accepted signed request (a replay, or a clock "
        "that went back); sign again with the current time",
        "STALE_REQUEST",
        "sign_time",
    )
