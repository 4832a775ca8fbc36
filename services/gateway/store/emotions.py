"""Emotional sync on PostgreSQL: the vector each instance last shared, and the mesh's mean of them.

A share notifies EMOTIONS_CHANNEL in its transaction, so every gateway replica's watch streams hear of it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from cerebro.gateway.v1 import resources_pb2
from cerebro.memory.v1 import identity_pb2
from cerebro.runtime.safe_values import stored_struct
from services.gateway.store.channels import EMOTIONS_CHANNEL


class EmotionStore:
    """The pool must decode jsonb (cerebro.runtime.database.open_pool)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def share(self, namespace: str, vector: identity_pb2.EmotionalVector, context: dict[str, Any] | None) -> None:
        # One statement: the notification goes out when it commits, at no extra round trip.
        await self._pool.execute(
            """WITH shared AS (
                   INSERT INTO gateway.shared_emotions (namespace, focus, energy, excitement, context)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (namespace) DO UPDATE SET
                       focus = EXCLUDED.focus, energy = EXCLUDED.energy, excitement = EXCLUDED.excitement,
                       context = EXCLUDED.context, updated_at = now()
                   RETURNING namespace)
               SELECT pg_notify($6, namespace) FROM shared""",
            namespace,
            vector.focus,
            vector.energy,
            vector.excitement,
            context,
            EMOTIONS_CHANNEL,
        )

    async def shared_state(self) -> resources_pb2.SharedEmotionalState:
        rows = await self._pool.fetch(
            """SELECT namespace, focus, energy, excitement, context, updated_at
               FROM gateway.shared_emotions ORDER BY namespace"""
        )
        state = resources_pb2.SharedEmotionalState()
        for row in rows:
            member = state.members.add(
                namespace=row["namespace"],
                emotional_vector=identity_pb2.EmotionalVector(
                    focus=row["focus"], energy=row["energy"], excitement=row["excitement"]
                ),
            )
            if row["context"] is not None:
                member.context.CopyFrom(stored_struct(row["context"], f"shared emotion of {row['namespace']} context"))
            member.update_time.FromDatetime(row["updated_at"])
        if rows:
            count = len(rows)
            state.mean.CopyFrom(
                identity_pb2.EmotionalVector(
                    focus=sum(row["focus"] for row in rows) / count,
                    energy=sum(row["energy"] for row in rows) / count,
                    excitement=sum(row["excitement"] for row in rows) / count,
                )
            )
            state.update_time.FromDatetime(max(row["updated_at"] for row in rows))
        return state
