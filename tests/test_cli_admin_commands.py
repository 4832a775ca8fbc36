"""The admin commands that work in the Cerebro database directly (`cerebro keys`, `cerebro instances
enroll|revoke|enrolled`), run as an operator runs them, on a real PostgreSQL: what they share
(services/cli/admin_database.py) and the terms a key and a certificate identity are given alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from services.cli.migrate import apply_all
from tests.cerebro_up import ROOT

ADMIN_COMMANDS = (("keys", "list"), ("instances", "enrolled"), ("instances", "revoke", "NEXUS"))


def cerebro(database_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
    environ["CEREBRO_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "cerebro", *argv], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def cerebro_json(database_url: str, *argv: str) -> Any:
    done = cerebro(database_url, argv[0], "--json", *argv[1:])
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("argv", ADMIN_COMMANDS)
def test_a_bad_database_url_is_a_bad_argument(argv: tuple[str, ...]) -> None:
    done = cerebro("mysql://db.example.com/cerebro", *argv)
    assert done.returncode == 2
    command = f"cerebro {argv[0]}" if argv[0] == "keys" else f"cerebro instances {argv[1]}"
    assert done.stderr == f"{command}: CEREBRO_DATABASE_URL: not a postgresql:// URL\n"


@pytest.mark.parametrize("argv", ADMIN_COMMANDS)
def test_a_database_that_does_not_answer_is_refused_in_one_line(argv: tuple[str, ...]) -> None:
    # Port 1 on loopback: nothing listens there.
    done = cerebro("postgresql://cerebro@127.0.0.1:1/cerebro", *argv)
    assert done.returncode == 1
    assert "the database refused" in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


async def test_a_key_and_a_certificate_identity_take_the_same_terms(fresh_database_url: str) -> None:
    await apply_all(fresh_database_url)
    terms = ("--instance", "NEXUS", "--read-only", "--label", "laptop", "--rate", "2.5", "--burst", "7")
    issued = cerebro_json(fresh_database_url, "keys", "issue", "nexus", *terms)
    bound = cerebro_json(fresh_database_url, "keys", "bind-cert", "nexus.agents.example.com", "nexus", *terms)
    for shown in (issued, bound):
        assert (shown["namespace"], shown["scope"], shown["instance_name"], shown["label"]) == (
            "nexus",
            "read-only",
            "NEXUS",
            "laptop",
        )
    [key] = cerebro_json(fresh_database_url, "keys", "list", "--namespace", "nexus")
    assert (key["key_id"], key["rate_per_second"], key["burst"], key["revoked_at"]) == (
        issued["key_id"],
        2.5,
        7,
        None,
    )
    [binding] = cerebro_json(fresh_database_url, "keys", "certs")
    assert (binding["identity"], binding["scope"], binding["instance_name"], binding["revoked_at"]) == (
        "nexus.agents.example.com",
        "read-only",
        "NEXUS",
        None,
    )
    # Without the terms: a read-write credential for no instance.
    plain = cerebro_json(fresh_database_url, "keys", "bind-cert", "aria.agents.example.com", "aria")
    assert (plain["scope"], plain["instance_name"], plain["label"]) == ("read-write", None, "")


async def test_a_bad_term_changes_nothing(fresh_database_url: str) -> None:
    await apply_all(fresh_database_url)
    done = cerebro(fresh_database_url, "keys", "issue", "nexus", "--rate", "-1")
    assert done.returncode == 2 and done.stderr.startswith("cerebro keys: ")
    done = cerebro(fresh_database_url, "keys", "bind-cert", "nexus.agents.example.com", "nexus", "--burst", "0")
    assert done.returncode == 2 and done.stderr.startswith("cerebro keys: ")
    assert cerebro_json(fresh_database_url, "keys", "list", "--all") == []
    assert cerebro_json(fresh_database_url, "keys", "certs", "--all") == []


async def test_a_change_that_changes_nothing_says_so_and_exits_1(fresh_database_url: str) -> None:
    await apply_all(fresh_database_url)
    issued = cerebro_json(fresh_database_url, "keys", "issue", "nexus")
    cerebro_json(fresh_database_url, "keys", "bind-cert", "nexus.agents.example.com", "nexus")
    for argv, done, not_done in (
        (("revoke", issued["key_id"]), f"revoked {issued['key_id']}\n", f"no unrevoked key {issued['key_id']}"),
        (
            ("unbind-cert", "nexus.agents.example.com"),
            "unbound nexus.agents.example.com\n",
            "no bound certificate identity nexus.agents.example.com",
        ),
    ):
        first = cerebro(fresh_database_url, "keys", *argv)
        assert (first.returncode, first.stdout) == (0, done)
        again = cerebro(fresh_database_url, "keys", *argv)
        assert (again.returncode, again.stdout, again.stderr) == (1, "", f"cerebro keys: {not_done}\n")
    shown = cerebro(fresh_database_url, "keys", "--json", "revoke", issued["key_id"])
    assert shown.returncode == 1 and json.loads(shown.stdout) == {"key_id": issued["key_id"], "revoked": False}
