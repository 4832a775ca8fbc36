"""Folding the text statistics: the memory service moves the changes its writes appended into the totals.

Writers only append to `memory.text_statistics_changes` (migration 0006); queries add those rows to the
folded figures, so they are exact whether folded or not, but each unfolded row costs every query of
its namespace a little. Every replica folds on its own timer; a fold that finds another one running
skips its turn.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

log = logging.getLogger(__name__)

# Change rows moved per transaction: a long pause (the service was down) is caught up in short steps.
FOLD_BATCH_ROWS = 10_000


async def fold_text_statistics(pool: asyncpg.Pool) -> int:
    """Fold every change row there is now; how many were folded."""
    folded = 0
    while True:
        async with pool.acquire() as connection:
            moved: int = await connection.fetchval("SELECT memory.fold_text_statistics($1)", FOLD_BATCH_ROWS)
        folded += moved
        if moved < FOLD_BATCH_ROWS:
            return folded


async def keep_folding(pool: asyncpg.Pool, interval_seconds: float) -> None:
    """Fold every ``interval_seconds`` until cancelled; a failed fold (PostgreSQL down) is retried next time."""
    while True:
        try:
            await fold_text_statistics(pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("folding the text statistics failed, retrying in %.1f s: %s", interval_seconds, error)
        await asyncio.sleep(interval_seconds)
