"""What the admin commands that work in the Cerebro database directly share (`cerebro keys`, `cerebro instances
enroll|revoke|enrolled`): the database URL, one connection per action, and one exit status per kind of failure."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from cerebro.runtime.config import ConfigError
from services.operations.dsn import cerebro_database_url

Result = TypeVar("Result")


def run_with_database(command: str, action: Callable[[str], int]) -> int:
    """``action(dsn)``'s exit status on the Cerebro database; 2 for a bad argument or configuration (a
    ConfigError or ValueError), 1 when the database refused. Errors are one line on stderr, after ``command``."""
    try:
        return action(cerebro_database_url())
    except (ConfigError, ValueError) as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as error:
        print(f"{command}: the database refused: {error}", file=sys.stderr)
        return 1


def with_connection(dsn: str, action: Callable[[asyncpg.Connection], Awaitable[Result]]) -> Result:
    """``action`` run on a connection of its own, closed after."""

    async def connected() -> Result:
        connection = await asyncpg.connect(dsn)
        try:
            return await action(connection)
        finally:
            await connection.close()

    return asyncio.run(connected())
