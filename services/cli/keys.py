"""`cerebro keys issue|revoke|list`: gateway API keys, administered in the database directly.

An admin command: it needs CEREBRO_DATABASE_URL (or _FILE) of the Cerebro database, not an API key.
The token of an issued key is shown once (or written to --token-file) and never stored.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from cerebro.cli.commands import Command
from cerebro.cli.tables import cell, print_fields, print_table
from cerebro.runtime.config import ConfigError, Env
from services.gateway.store import keys
from services.gateway.store.credentials import Scope

DESCRIPTION = """\
Issue, revoke and list the API keys agent instances use with the gateway (`authorization: Bearer <key>`).
Needs CEREBRO_DATABASE_URL or CEREBRO_DATABASE_URL_FILE; under `cerebro up` with the embedded database:
    export CEREBRO_DATABASE_URL_FILE=~/.cerebro/secrets/database_url
A key belongs to one namespace (the instance's memories) and, to propose and vote, to one instance name."""

Result = TypeVar("Result")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="a new key for a namespace; its token is shown once")
    issue.add_argument("namespace", help="e.g. nexus")
    issue.add_argument("--instance", help="the registered instance name it may propose and vote for, e.g. NEXUS")
    issue.add_argument("--read-only", action="store_true", help="may call no method that writes")
    issue.add_argument("--label", default="", help="a note for people")
    issue.add_argument("--rate", type=float, help="calls per second (default: the gateway's)")
    issue.add_argument("--burst", type=int, help="calls at once above the rate (default: the gateway's)")
    issue.add_argument("--token-file", type=Path, help="write the token here (mode 0600) instead of printing it")
    revoke = actions.add_parser("revoke", help="revoke a key at once, on every gateway")
    revoke.add_argument("key_id")
    listing = actions.add_parser("list", help="keys (never their tokens)")
    listing.add_argument("--namespace", help="only this namespace's keys")
    listing.add_argument("--all", action="store_true", help="also revoked keys")


def run(args: argparse.Namespace) -> int:
    """Run one `cerebro keys` action; the exit status."""
    try:
        dsn = Env().secret("DATABASE_URL")
        if dsn is None:
            raise ConfigError("CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required")
        if args.action == "issue":
            return _issue(dsn, args)
        if args.action == "revoke":
            return _revoke(dsn, args)
        return _list(dsn, args)
    except (ConfigError, ValueError) as error:
        print(f"cerebro keys: {error}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as error:
        print(f"cerebro keys: the database refused: {error}", file=sys.stderr)
        return 1


def _with_database(dsn: str, action: Callable[[asyncpg.Connection], Awaitable[Result]]) -> Result:
    async def connected() -> Result:
        connection = await asyncpg.connect(dsn)
        try:
            return await action(connection)
        finally:
            await connection.close()

    return asyncio.run(connected())


def _issue(dsn: str, args: argparse.Namespace) -> int:
    issued = _with_database(
        dsn,
        lambda db: keys.issue_key(
            db,
            args.namespace,
            scope=Scope.READ_ONLY if args.read_only else Scope.READ_WRITE,
            instance_name=args.instance,
            label=args.label,
            rate_per_second=args.rate,
            burst=args.burst,
        ),
    )
    if args.token_file:
        _write_secret(args.token_file, issued.token)
    shown = dataclasses.replace(issued, token=f"(written to {args.token_file})") if args.token_file else issued
    if args.json:
        print(json.dumps({**dataclasses.asdict(shown), "scope": shown.scope.value}, indent=2))
        return 0
    print_fields(
        [
            ("key id", shown.key_id),
            ("namespace", shown.namespace),
            ("scope", shown.scope.value),
            ("instance", shown.instance_name or "-"),
            ("token", shown.token),
        ]
    )
    if not args.token_file:
        print("The token is shown only this once: give it to the instance as CEREBRO_API_KEY(_FILE).")
    return 0


def _write_secret(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")


def _revoke(dsn: str, args: argparse.Namespace) -> int:
    revoked = _with_database(dsn, lambda db: keys.revoke_key(db, args.key_id))
    if args.json:
        print(json.dumps({"key_id": args.key_id, "revoked": revoked}))
    elif revoked:
        print(f"revoked {args.key_id}")
    if not revoked:
        print(f"cerebro keys: no unrevoked key {args.key_id}", file=sys.stderr)
        return 1
    return 0


def _list(dsn: str, args: argparse.Namespace) -> int:
    listed = _with_database(dsn, lambda db: keys.list_keys(db, args.namespace, include_revoked=args.all))
    if args.json:
        print(json.dumps([_key_json(info) for info in listed], indent=2))
        return 0
    rows = [
        [
            info.key_id,
            info.namespace,
            info.scope.value,
            info.instance_name or "-",
            info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            info.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if info.revoked_at else "-",
            cell(info.label),
        ]
        for info in listed
    ]
    print_table(["key id", "namespace", "scope", "instance", "created", "revoked", "label"], rows)
    return 0


def _key_json(info: keys.KeyInfo) -> dict[str, Any]:
    return {
        **dataclasses.asdict(info),
        "scope": info.scope.value,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


COMMAND = Command(
    help="issue, revoke and list gateway API keys (admin, database access)",
    description=DESCRIPTION,
    arguments=_arguments,
    run=run,
)
