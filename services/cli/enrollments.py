"""`cerebro instances enroll|revoke|enrolled`: which keys may join the instance network (the operator's side).

Admin actions: like `cerebro keys`, they need CEREBRO_DATABASE_URL (or _FILE) of the Cerebro database,
not an API key. The agent's side, `cerebro instances public-key`, is in cerebro/cli/agent.py.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import getpass
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from cerebro.cli.commands import Command
from cerebro.cli.tables import print_fields, print_table
from services.cli.admin_database import run_with_database, with_connection
from services.consensus.store import enrollment


def _json_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a default here would overwrite a --json given before the action (`instances --json enrolled`).
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")


def _by_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", default=_operator(), help="who does it, for the audit trail (default: %(default)s)")


def _enroll_arguments(parser: argparse.ArgumentParser) -> None:
    _json_option(parser)
    _by_option(parser)
    parser.add_argument("name", help="the instance name, e.g. NEXUS")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--public-key", type=Path, help="the instance's Ed25519 public key (PEM)")
    source.add_argument(
        "--registered-key",
        action="store_true",
        help="the key NAME is registered with now (an instance that joined before enrolment; check it first)",
    )
    parser.add_argument("--voting", action="store_true", help="the instance may vote (is in new electorates)")


def _revoke_arguments(parser: argparse.ArgumentParser) -> None:
    _json_option(parser)
    _by_option(parser)
    parser.add_argument("name")


def _enrolled_arguments(parser: argparse.ArgumentParser) -> None:
    _json_option(parser)
    parser.add_argument("--all", action="store_true", help="also revoked ones (what `reverify` needs)")


def run(args: argparse.Namespace) -> int:
    """Run one enrolment action; the exit status."""
    return run_with_database(f"cerebro instances {args.action}", lambda dsn: _ACTIONS[args.action](dsn, args))


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def read_public_key(path: Path) -> bytes:
    """The raw 32 bytes of the Ed25519 public key in the PEM file ``path``."""
    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    except ValueError:
        raise ValueError(f"{path} does not hold a PEM public key (BEGIN PUBLIC KEY)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} holds a public key, but not an Ed25519 one")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _enroll(dsn: str, args: argparse.Namespace) -> int:
    async def enroll(connection: asyncpg.Connection) -> enrollment.EnrollmentRecord:
        if args.registered_key:
            key = await enrollment.registered_key(connection, args.name)
            if key is None:
                raise ValueError(f"no instance is registered as {args.name}")
        else:
            key = read_public_key(args.public_key)
        return await enrollment.enroll(connection, args.name, key, voting=args.voting, by=args.by)

    try:
        record = with_connection(dsn, enroll)
    except enrollment.EnrollmentError as error:
        print(f"cerebro instances enroll: {error}", file=sys.stderr)
        return 1
    _show([record], getattr(args, "json", False))
    return 0


def _revoke(dsn: str, args: argparse.Namespace) -> int:
    record = with_connection(dsn, lambda db: enrollment.revoke(db, args.name, by=args.by))
    if record is None:
        print(f"cerebro instances revoke: {args.name} has no active enrolment", file=sys.stderr)
        return 1
    _show([record], getattr(args, "json", False))
    return 0


def _list(dsn: str, args: argparse.Namespace) -> int:
    records = with_connection(dsn, lambda db: enrollment.list_enrollments(db, include_revoked=args.all))
    _show(records, getattr(args, "json", False), table=True)
    return 0


def enrollment_json(record: enrollment.EnrollmentRecord) -> dict[str, Any]:
    """The JSON form `cerebro.consensus.client.Enrollment.from_json` reads back."""
    return {
        **dataclasses.asdict(record),
        "public_key": base64.b64encode(record.public_key).decode(),
        "enrolled_at": record.enrolled_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


def _show(records: list[enrollment.EnrollmentRecord], as_json: bool, *, table: bool = False) -> None:
    if as_json:
        items = [enrollment_json(record) for record in records]
        print(json.dumps(items if table else items[0], indent=2))
        return
    if table:
        rows = [
            [
                record.instance_name,
                "yes" if record.voting else "no",
                base64.b64encode(record.public_key).decode(),
                f"{record.enrolled_at:%Y-%m-%d %H:%M:%S} by {record.enrolled_by}",
                f"{record.revoked_at:%Y-%m-%d %H:%M:%S} by {record.revoked_by}" if record.revoked_at else "-",
            ]
            for record in records
        ]
        print_table(["name", "voting", "public key", "enrolled", "revoked"], rows)
        return
    [record] = records
    print_fields(
        [
            ("instance", record.instance_name),
            ("voting", "yes" if record.voting else "no"),
            ("public key", base64.b64encode(record.public_key).decode()),
            ("enrolled", f"{record.enrolled_at:%Y-%m-%d %H:%M:%S} by {record.enrolled_by} ({record.enrolled_as})"),
            (
                "revoked",
                f"{record.revoked_at:%Y-%m-%d %H:%M:%S} by {record.revoked_by} ({record.revoked_as})"
                if record.revoked_at
                else "-",
            ),
        ]
    )


_ACTIONS: dict[str, Callable[[str, argparse.Namespace], int]] = {
    "enroll": _enroll,
    "revoke": _revoke,
    "enrolled": _list,
}

ENROLL = Command(help="enrol a key for an instance name (admin, database access)", arguments=_enroll_arguments, run=run)
REVOKE = Command(
    help="revoke an enrolment: the instance leaves the network at once (admin)", arguments=_revoke_arguments, run=run
)
ENROLLED = Command(help="the enrolments, with who made them and when (admin)", arguments=_enrolled_arguments, run=run)
