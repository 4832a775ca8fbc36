"""Logins for the least-privilege roles, with passwords from secret files (never from the repository).

The migrations create every role without LOGIN: `cerebro_memory`, `cerebro_memory_worker` and
`cerebro_memory_reader` (memory), `cerebro_gateway` (gateway) and `cerebro_consensus` (consensus).
Setting the role's password variable of :data:`PASSWORD_VARIABLES` (``CEREBRO_MEMORY_DATABASE_PASSWORD_FILE``,
...) lets it log in with that password; `cerebro migrate` applies them, and so does the memory service
at start.

Only a SCRAM-SHA-256 verifier made here is sent to the server, never the password itself, so it
cannot appear in the server's logs (a failed statement is logged with its text) or in pg_stat_activity.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import asyncpg
from scramp import ScramMechanism

from cerebro.runtime.config import Env

# Each role, and the variable (after CEREBRO_, with _FILE for a secret file) holding its password.
PASSWORD_VARIABLES = {
    "cerebro_memory": "MEMORY_DATABASE_PASSWORD",
    "cerebro_memory_worker": "MEMORY_WORKER_DATABASE_PASSWORD",
    "cerebro_memory_reader": "MEMORY_READER_DATABASE_PASSWORD",
    "cerebro_gateway": "GATEWAY_DATABASE_PASSWORD",
    "cerebro_consensus": "CONSENSUS_DATABASE_PASSWORD",
}
# PostgreSQL's own default (scram_iterations).
SCRAM_ITERATIONS = 4096


def role_passwords_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{role: password} for every role whose password variable (or its _FILE) is set."""
    env = Env(environ)
    passwords = {role: env.secret(variable) for role, variable in PASSWORD_VARIABLES.items()}
    return {role: password for role, password in passwords.items() if password}


async def enable_role_logins(dsn: str, passwords: Mapping[str, str]) -> None:
    """Let each role log in with its password (run as an administrator, after the migrations)."""
    if not passwords:
        return
    connection = await asyncpg.connect(dsn)
    try:
        for role, password in passwords.items():
            # ALTER ROLE takes no parameters: format() quotes the name and the literal server-side.
            statement = await connection.fetchval(
                "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)",
                role,
                scram_verifier(password),
            )
            await connection.execute(statement)
    finally:
        await connection.close()


def scram_verifier(password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (a fresh random salt each time)."""
    salt, stored_key, server_key, iterations = ScramMechanism("SCRAM-SHA-256").make_auth_info(
        password, iteration_count=SCRAM_ITERATIONS
    )

    def encode(value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{encode(salt)}${encode(stored_key)}:{encode(server_key)}"
