"""The running consciousness state of an agent instance, and its heartbeat."""

from __future__ import annotations

import asyncpg

from cerebro.memory.v1 import identity_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import struct, timestamp
from services.memory.db import reading_namespace
from services.memory.store import consciousness as store

MAX_FOCUS_CHARS = 10_000
MAX_CONTEXT_BYTES = 262_144
MAX_METADATA_BYTES = 65_536
MAX_ACTIVE_PROJECTS = 100
MAX_PROJECT_CHARS = 255
UPDATABLE_FIELDS = ("current_focus", "emotional_vector", "working_context", "active_projects", "metadata")


def state_message(namespace: str, row: asyncpg.Record | None) -> identity_pb2.ConsciousnessState:
    if row is None:
        return identity_pb2.ConsciousnessState(namespace=namespace)
    state = identity_pb2.ConsciousnessState(
        namespace=row["namespace"],
        current_focus=row["current_focus"],
        working_context=struct(row["working_context"], f"consciousness state of {namespace} working_context"),
        active_projects=row["active_projects"],
        metadata=struct(row["metadata"], f"consciousness state of {namespace} metadata"),
        last_heartbeat_time=timestamp(row["last_heartbeat_at"]),
        update_time=timestamp(row["updated_at"]),
        version=row["version"],
    )
    if row["emotion_focus"] is not None:
        state.emotional_vector.CopyFrom(
            identity_pb2.EmotionalVector(
                focus=row["emotion_focus"], energy=row["emotion_energy"], excitement=row["emotion_excitement"]
            )
        )
    return state


def _changes(violations: Violations, state: identity_pb2.ConsciousnessState, paths: set[str]) -> store.StateChanges:
    values: dict[str, object] = {}
    if "current_focus" in paths:
        values["current_focus"] = violations.text(
            "state.current_focus", state.current_focus, required=False, max_chars=MAX_FOCUS_CHARS
        )
    if "emotional_vector" in paths:
        vector = None
        if state.HasField("emotional_vector"):
            emotion = state.emotional_vector
            vector = store.EmotionalVector(
                focus=violations.fraction("state.emotional_vector.focus", emotion.focus),
                energy=violations.fraction("state.emotional_vector.energy", emotion.energy),
                excitement=violations.fraction("state.emotional_vector.excitement", emotion.excitement),
            )
        values.update(store.emotional_columns(vector))
    if "working_context" in paths:
        values["working_context"] = violations.struct(
            "state.working_context", state.working_context, max_bytes=MAX_CONTEXT_BYTES
        )
    if "active_projects" in paths:
        projects = list(state.active_projects)
        if violations.count("state.active_projects", projects, max_items=MAX_ACTIVE_PROJECTS):
            for index, project in enumerate(projects):
                violations.text(f"state.active_projects[{index}]", project, max_chars=MAX_PROJECT_CHARS)
        values["active_projects"] = projects
    if "metadata" in paths:
        values["metadata"] = violations.struct("state.metadata", state.metadata, max_bytes=MAX_METADATA_BYTES)
    return store.StateChanges(values)


class ConsciousnessApi(ApiBase):
    async def GetConsciousnessState(
        self, request: pb.GetConsciousnessStateRequest, context: Context
    ) -> pb.GetConsciousnessStateResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        violations.raise_if_any()
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_state(connection, namespace)
        return pb.GetConsciousnessStateResponse(state=state_message(namespace, row))

    async def UpdateConsciousnessState(
        self, request: pb.UpdateConsciousnessStateRequest, context: Context
    ) -> pb.UpdateConsciousnessStateResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        paths = violations.update_mask("update_mask", request.update_mask, UPDATABLE_FIELDS)
        changes = _changes(violations, request.state, paths)
        violations.raise_if_any()
        row = await store.update_state(self.resources.database, namespace, changes)
        return pb.UpdateConsciousnessStateResponse(state=state_message(namespace, row))

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Context) -> pb.HeartbeatResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        violations.raise_if_any()
        row = await store.heartbeat(self.resources.database, namespace)
        return pb.HeartbeatResponse(state=state_message(namespace, row))
