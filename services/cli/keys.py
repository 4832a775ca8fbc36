"""`cerebro keys ...`: the gateway's credentials and read grants, administered in the database directly.

API keys (issue, revoke, list), read grants between namespaces (grant, revoke-grant, grants) and
mutual-TLS identities bound to a namespace (bind-cert, unbind-cert, certs); the SQL is in
services/gateway/store/keys.py. An admin command: it needs CEREBRO_DATABASE_URL (or _FILE) of the
Cerebro database, not an API key. The token of an issued key is shown once (or written to
--token-file) and never stored. Every change reaches the running gateways at once (a notification).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from cerebro.cli.commands import Command
from cerebro.cli.tables import cell, print_fields, print_table
from services.cli.admin_database import run_with_database, with_connection
from services.gateway.store import keys
from services.gateway.store.credentials import Scope

DESCRIPTION = """\
The gateway's credentials: the API keys agent instances send (`authorization: Bearer <key>`), the
client certificate identities a gateway serving mutual TLS accepts instead, and the read grants that
let one namespace read another's memories. Changes apply on every gateway at once.
Needs CEREBRO_DATABASE_URL or CEREBRO_DATABASE_URL_FILE; under `cerebro up` with the embedded database:
    export CEREBRO_DATABASE_URL_FILE=~/.cerebro/secrets/database_url
A key or certificate belongs to one namespace (the instance's memories) and, to propose and vote, to
one instance name. Exit status: 0 done, 1 nothing to do (already granted, no such grant, key or
binding) or the database refused, 2 bad arguments."""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="a new key for a namespace; its token is shown once")
    issue.add_argument("namespace", help="e.g. nexus")
    _terms_arguments(issue, instance_example="NEXUS")
    issue.add_argument("--token-file", type=Path, help="write the token here (mode 0600) instead of printing it")
    revoke = actions.add_parser("revoke", help="revoke a key at once, on every gateway")
    revoke.add_argument("key_id")
    listing = actions.add_parser("list", help="keys (never their tokens)")
    listing.add_argument("--namespace", help="only this namespace's keys")
    listing.add_argument("--all", action="store_true", help="also revoked keys")
    grant = actions.add_parser(
        "grant",
        help="let another namespace read a namespace's memories",
        description="Let GRANTEE's keys and certificates read OWNER's memories (Recall, ListRecentEpisodes, "
        "SearchKnowledge, ... with `namespace` OWNER). Reading only: GRANTEE's writes stay in its own "
        "namespace. Both namespaces must be known: with a key, a certificate binding or memories.",
    )
    grant.add_argument("owner", metavar="OWNER", help="the namespace whose memories are read, e.g. nexus")
    grant.add_argument("--to", dest="grantee", required=True, metavar="GRANTEE", help="the reader, e.g. aria")
    revoke_grant = actions.add_parser(
        "revoke-grant", help="withdraw a read grant, on every gateway at once", description="Withdraw a read grant."
    )
    revoke_grant.add_argument("owner", metavar="OWNER", help="the namespace whose memories were readable")
    revoke_grant.add_argument("--from", dest="grantee", required=True, metavar="GRANTEE", help="the reader")
    grants = actions.add_parser("grants", help="read grants (owner -> grantee)")
    grants.add_argument("--namespace", help="only grants where this namespace is the owner or the grantee")
    bind = actions.add_parser(
        "bind-cert",
        help="let a client certificate identity act for a namespace (mutual TLS)",
        description="Bind a client certificate identity (a subject alternative name, or the common name) to a "
        "namespace: a gateway serving mutual TLS (CEREBRO_TLS_CA_FILE, CEREBRO_GATEWAY_SERVE_TLS=true) then "
        "accepts a certificate its CA signed for IDENTITY as that namespace's credential, with no API key. "
        "An identity bound already must be unbound first.",
    )
    bind.add_argument("identity", metavar="IDENTITY", help="e.g. aria.agents.example.com")
    bind.add_argument("namespace", metavar="NAMESPACE", help="e.g. aria")
    _terms_arguments(bind, instance_example="ARIA")
    unbind = actions.add_parser("unbind-cert", help="refuse a certificate identity again, on every gateway at once")
    unbind.add_argument("identity")
    certs = actions.add_parser("certs", help="certificate bindings")
    certs.add_argument("--all", action="store_true", help="also unbound identities")


def _terms_arguments(parser: argparse.ArgumentParser, *, instance_example: str) -> None:
    """The options of what a key or a certificate identity may do (read back by :func:`_terms`)."""
    parser.add_argument(
        "--instance", help=f"the registered instance name it may propose and vote for, e.g. {instance_example}"
    )
    parser.add_argument("--read-only", action="store_true", help="may call no method that writes")
    parser.add_argument("--label", default="", help="a note for people")
    parser.add_argument("--rate", type=float, help="calls per second (default: the gateway's)")
    parser.add_argument("--burst", type=int, help="calls at once above the rate (default: the gateway's)")


def _terms(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of keys.issue_key and keys.bind_certificate given by :func:`_terms_arguments`."""
    return {
        "scope": Scope.READ_ONLY if args.read_only else Scope.READ_WRITE,
        "instance_name": args.instance,
        "label": args.label,
        "rate_per_second": args.rate,
        "burst": args.burst,
    }


def run(args: argparse.Namespace) -> int:
    """Run one `cerebro keys` action; the exit status."""
    return run_with_database("cerebro keys", lambda dsn: ACTIONS[args.action](dsn, args))


def _issue(dsn: str, args: argparse.Namespace) -> int:
    issued = with_connection(dsn, lambda db: keys.issue_key(db, args.namespace, **_terms(args)))
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
    revoked = with_connection(dsn, lambda db: keys.revoke_key(db, args.key_id))
    shown = {"key_id": args.key_id, "revoked": revoked}
    return _outcome(args, revoked, shown, f"revoked {args.key_id}", f"no unrevoked key {args.key_id}")


def _outcome(args: argparse.Namespace, changed: bool, shown: dict[str, object], done: str, not_done: str) -> int:
    """Say what a change did (with --json: ``shown``); exit status 1, and why on stderr, when it changed nothing."""
    if args.json:
        print(json.dumps(shown))
    elif changed:
        print(done)
    if not changed:
        print(f"cerebro keys: {not_done}", file=sys.stderr)
        return 1
    return 0


def _list(dsn: str, args: argparse.Namespace) -> int:
    listed = with_connection(dsn, lambda db: keys.list_keys(db, args.namespace, include_revoked=args.all))
    if args.json:
        print(json.dumps([_credential_json(info) for info in listed], indent=2))
        return 0
    rows = [[info.key_id, *_credential_cells(info)] for info in listed]
    print_table(["key id", "namespace", "scope", "instance", "created", "revoked", "label"], rows)
    return 0


def _credential_cells(credential: keys.KeyInfo | keys.CertificateBinding) -> list[str]:
    """A key's or a certificate binding's row in a listing, after its key id or identity."""
    return [
        credential.namespace,
        credential.scope.value,
        credential.instance_name or "-",
        credential.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        credential.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if credential.revoked_at else "-",
        cell(credential.label),
    ]


def _credential_json(credential: keys.KeyInfo | keys.CertificateBinding) -> dict[str, Any]:
    return {
        **dataclasses.asdict(credential),
        "scope": credential.scope.value,
        "created_at": credential.created_at.isoformat(),
        "revoked_at": credential.revoked_at.isoformat() if credential.revoked_at else None,
    }


def _grant(dsn: str, args: argparse.Namespace) -> int:
    async def granting(db: asyncpg.Connection) -> bool:
        keys.check_grant(args.owner, args.grantee)
        names = [args.owner, args.grantee]
        unknown = [name for name in names if name not in await keys.known_namespaces(db, names)]
        if unknown:
            raise ValueError(
                f"unknown namespace {unknown[0]!r}: it has no API key, certificate binding or memories "
                f"(issue it a key first: cerebro keys issue {unknown[0]})"
            )
        return await keys.grant_read(db, args.owner, args.grantee)

    granted = with_connection(dsn, granting)
    shown = {"owner_namespace": args.owner, "grantee_namespace": args.grantee, "granted": granted}
    done = f"{args.grantee} may now read {args.owner}'s memories"
    return _outcome(args, granted, shown, done, f"{args.grantee} may already read {args.owner}'s memories")


def _revoke_grant(dsn: str, args: argparse.Namespace) -> int:
    keys.check_grant(args.owner, args.grantee)
    revoked = with_connection(dsn, lambda db: keys.revoke_read(db, args.owner, args.grantee))
    shown = {"owner_namespace": args.owner, "grantee_namespace": args.grantee, "revoked": revoked}
    done = f"{args.grantee} may no longer read {args.owner}'s memories"
    return _outcome(args, revoked, shown, done, f"no grant lets {args.grantee} read {args.owner}'s memories")


def _grants(dsn: str, args: argparse.Namespace) -> int:
    listed = with_connection(dsn, lambda db: keys.list_grants(db, args.namespace))
    if args.json:
        print(json.dumps([{**dataclasses.asdict(g), "created_at": g.created_at.isoformat()} for g in listed], indent=2))
        return 0
    rows = [
        [grant.owner_namespace, grant.grantee_namespace, grant.created_at.strftime("%Y-%m-%d %H:%M:%S")]
        for grant in listed
    ]
    print_table(["owner", "readable by", "granted"], rows)
    return 0


def _bind_cert(dsn: str, args: argparse.Namespace) -> int:
    binding = with_connection(dsn, lambda db: keys.bind_certificate(db, args.identity, args.namespace, **_terms(args)))
    if args.json:
        print(json.dumps(_credential_json(binding), indent=2))
        return 0
    print_fields(
        [
            ("identity", binding.identity),
            ("namespace", binding.namespace),
            ("scope", binding.scope.value),
            ("instance", binding.instance_name or "-"),
        ]
    )
    return 0


def _unbind_cert(dsn: str, args: argparse.Namespace) -> int:
    unbound = with_connection(dsn, lambda db: keys.unbind_certificate(db, args.identity))
    shown = {"identity": args.identity, "unbound": unbound}
    return _outcome(args, unbound, shown, f"unbound {args.identity}", f"no bound certificate identity {args.identity}")


def _certs(dsn: str, args: argparse.Namespace) -> int:
    listed = with_connection(dsn, lambda db: keys.list_certificate_bindings(db, include_revoked=args.all))
    if args.json:
        print(json.dumps([_credential_json(binding) for binding in listed], indent=2))
        return 0
    rows = [[binding.identity, *_credential_cells(binding)] for binding in listed]
    print_table(["identity", "namespace", "scope", "instance", "bound", "unbound", "label"], rows)
    return 0


ACTIONS: dict[str, Callable[[str, argparse.Namespace], int]] = {
    "issue": _issue,
    "revoke": _revoke,
    "list": _list,
    "grant": _grant,
    "revoke-grant": _revoke_grant,
    "grants": _grants,
    "bind-cert": _bind_cert,
    "unbind-cert": _unbind_cert,
    "certs": _certs,
}

COMMAND = Command(
    help="API keys, read grants and certificate identities of the gateway (admin, database access)",
    description=DESCRIPTION,
    arguments=_arguments,
    run=run,
)
