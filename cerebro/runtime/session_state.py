"""Pooled connections that are reset on release only when a statement may have left session state behind.

asyncpg's own reset (``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``, ``pg_advisory_unlock_all()``) costs a
round trip on every release, and a release ends every call: a whole network distance on each call to a
remote primary. Yet the statements on pooled connections are the code's own, and they keep their state in
the transaction (``set_config(..., true)``, ``SET LOCAL``, ``pg_advisory_xact_lock``). So each statement's
text is checked (once per distinct text) as the connection prepares or runs it: one that can change the
session (a ``SET`` that is not ``LOCAL``, ``set_config`` whose last argument is not ``true``, a session
advisory lock, ``LISTEN``, a temporary table, a held cursor, ``PREPARE``, ``LOAD``) marks the connection,
and only a marked connection gets the full reset on release (asyncpg's, and ``DISCARD TEMP``; asyncpg
rolls back a transaction left open either way). Session state set inside a function is not seen: the
functions of the migrations keep theirs in the transaction (tests/runtime/test_session_state.py checks).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import asyncpg

_SESSION_STATEMENT = re.compile(
    r"""
    (?:^|;)\s*(?:
        SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)
        | LISTEN\b | PREPARE\b | LOAD\b
        | DECLARE\b[^;]*\bWITH\s+HOLD\b
        | CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?\b
    )
    | \bset_config\s*\((?![^()]*,\s*true\s*\))
    | \bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(
    """,
    re.IGNORECASE | re.VERBOSE,
)


@functools.lru_cache(maxsize=4096)
def changes_session(query: str) -> bool:
    """Whether ``query`` may leave state in the session beyond its transaction."""
    return _SESSION_STATEMENT.search(query) is not None


class TrackedConnection(asyncpg.Connection):
    """A connection that notes whether it ran a statement that may change its session (the pool's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_changed = False

    def get_reset_query(self) -> str:
        # asyncpg's reset leaves temporary tables; DISCARD ALL would also drop its prepared statements.
        return f"{super().get_reset_query()}\nDISCARD TEMP;"

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        # Without arguments asyncpg sends the text as a simple query, past _get_statement.
        self.session_changed = self.session_changed or changes_session(query)
        return await super().execute(query, *args, timeout=timeout)

    async def _get_statement(self, query: str, *args: Any, **kwargs: Any) -> Any:
        # Every prepared statement passes here: fetch*, execute with arguments, executemany, prepare, cursors.
        # A private method of asyncpg (pinned below 0.33; tests/runtime/test_session_state.py notices a change),
        # which its stubs leave out.
        self.session_changed = self.session_changed or changes_session(query)
        return await super()._get_statement(query, *args, **kwargs)  # type: ignore[misc]


async def reset_if_changed(connection: asyncpg.Connection) -> None:
    """The pool's reset: asyncpg has rolled back an open transaction already; the session's state is
    reset only where a statement may have changed it."""
    if isinstance(connection, TrackedConnection) and connection.session_changed:
        await connection.reset()
        connection.session_changed = False
