"""Enrolment of instance keys by an operator (`cerebro instances enroll|revoke|enrolled`), in PostgreSQL.

An admin path, like `cerebro keys`: the command connects to the database directly. The rows live in
``instance_enrollments`` (consensus migration 0002) and are never deleted: revoking stamps a row,
enrolling again adds one. Revoking also deregisters the instance at once, so it leaves the registry's
active set and the electorate of every new proposal, and watchers (the gateways) hear about it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from cerebro.consensus.client import Enrollment
from cerebro.consensus.signatures import PUBLIC_KEY_BYTES
from cerebro.runtime.database import Connection
from cerebro.runtime.violations import Violations
from services.consensus.events import INSTANCES_CHANNEL, notify_change

# An instance name, as enrolment and registration accept it: no whitespace or control characters.
MAX_NAME_CHARS = 200

_COLUMNS = """
    instance_name, public_key, voting, enrolled_by, enrolled_as, enrolled_at, revoked_by, revoked_as, revoked_at
"""


class EnrollmentError(ValueError):
    """The enrolment cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class EnrollmentRecord:
    instance_name: str
    public_key: bytes
    voting: bool
    enrolled_by: str
    enrolled_as: str
    enrolled_at: datetime
    revoked_by: str | None
    revoked_as: str | None
    revoked_at: datetime | None

    def enrollment(self) -> Enrollment:
        """What `reverify` needs of it."""
        return Enrollment(self.instance_name, self.public_key, self.voting, self.enrolled_at, self.revoked_at)


@dataclass(frozen=True)
class Enrolled:
    """An active enrolment of a name, as admission (services.consensus.admission) judges a registration by it."""

    public_key: bytes
    voting: bool


async def enroll(
    connection: Connection, instance_name: str, public_key: bytes, *, voting: bool, by: str
) -> EnrollmentRecord:
    """Enrol ``public_key`` for ``instance_name``. Enrolling the same key again with the same vote changes nothing.

    Raises :class:`EnrollmentError` when the name is enrolled for another key (or vote) or the key for
    another name: revoke that first, so that every change of hands is an audited act.
    """
    name = Violations()
    name.token("instance_name", instance_name, max_chars=MAX_NAME_CHARS)
    if name:
        [(_, problem)] = name.items
        raise EnrollmentError(f"{instance_name!r} is not an instance name: it {problem}")
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise EnrollmentError(f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes, not {len(public_key)}")
    async with connection.transaction():
        # One enrolment at a time: the unique indexes would refuse a concurrent one anyway, less kindly.
        await connection.execute("LOCK TABLE instance_enrollments IN SHARE ROW EXCLUSIVE MODE")
        current = await connection.fetchrow(
            f"SELECT {_COLUMNS} FROM instance_enrollments WHERE revoked_at IS NULL AND instance_name = $1",
            instance_name,
        )
        if current is not None:
            if current["public_key"] == public_key and current["voting"] == voting:
                return EnrollmentRecord(**current)
            raise EnrollmentError(
                f"{instance_name} is enrolled already (with another key or vote); revoke it first: "
                f"cerebro instances revoke {instance_name}"
            )
        holder = await connection.fetchval(
            "SELECT instance_name FROM instance_enrollments WHERE revoked_at IS NULL AND public_key = $1", public_key
        )
        if holder is not None:
            raise EnrollmentError(f"this key is enrolled for {holder}; one key belongs to one instance name")
        row = await connection.fetchrow(
            f"""
            INSERT INTO instance_enrollments (enrollment_id, instance_name, public_key, voting, enrolled_by)
            VALUES ($1, $2, $3, $4, $5)
            RETURNING {_COLUMNS}
            """,
            uuid.uuid4(),
            instance_name,
            public_key,
            voting,
            by,
        )
    assert row is not None  # an INSERT ... RETURNING without ON CONFLICT returns its row
    return EnrollmentRecord(**row)


async def revoke(connection: Connection, instance_name: str, *, by: str) -> EnrollmentRecord | None:
    """Revoke the active enrolment of ``instance_name`` and deregister its instance; None when there is none."""
    async with connection.transaction():
        row = await connection.fetchrow(
            f"""
            UPDATE instance_enrollments
            SET revoked_at = greatest(now(), enrolled_at), revoked_by = $2, revoked_as = session_user
            WHERE revoked_at IS NULL AND instance_name = $1
            RETURNING {_COLUMNS}
            """,
            instance_name,
            by,
        )
        if row is None:
            return None
        deregistered = await connection.fetch(
            """
            UPDATE instance_network SET deregistered = true, announced_status = 'offline', updated_at = now()
            WHERE instance_name = $1 AND NOT deregistered
            RETURNING instance_id
            """,
            instance_name,
        )
        for instance in deregistered:
            await notify_change(connection, INSTANCES_CHANNEL, str(instance["instance_id"]), "deregistered")
    return EnrollmentRecord(**row)


async def list_enrollments(connection: Connection, *, include_revoked: bool) -> list[EnrollmentRecord]:
    """Every enrolment by name and time (only the active ones unless ``include_revoked``)."""
    rows = await connection.fetch(
        f"""
        SELECT {_COLUMNS} FROM instance_enrollments
        WHERE $1 OR revoked_at IS NULL
        ORDER BY instance_name, enrolled_at
        """,
        include_revoked,
    )
    return [EnrollmentRecord(**row) for row in rows]


async def registered_key(connection: Connection, instance_name: str) -> bytes | None:
    """The key ``instance_name`` is registered with now (to enrol an instance that registered before enrolment)."""
    key: bytes | None = await connection.fetchval(
        "SELECT public_key FROM instance_network WHERE instance_name = $1", instance_name
    )
    return key
