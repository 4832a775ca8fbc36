"""Logins for the least-privilege roles, with passwords from secret files (never from the repository).

The migrations create `nexus_app`, `nexus_worker` and `nexus_ro` without LOGIN. Setting
CEREBRO_NEXUS_APP_PASSWORD_FILE (or CEREBRO_NEXUS_APP_PASSWORD), and the same for NEXUS_WORKER and
NEXUS_RO, lets those roles log in with that password; the memory service applies them at start.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from cerebro.runtime.config import Env

ROLES = ("nexus_app", "nexus_worker", "nexus_ro")


def role_passwords_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{role: password} for every role whose CEREBRO_<ROLE>_PASSWORD(_FILE) is set."""
    env = Env(environ)
    passwords = {role: env.secret(f"{role.upper()}_PASSWORD") for role in ROLES}
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
                "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)", role, password
            )
            await connection.execute(statement)
    finally:
        await connection.close()
