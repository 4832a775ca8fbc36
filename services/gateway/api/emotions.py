"""Emotional sync: the emotional state the instances share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase
from services.gateway.call import caller
from services.gateway.store.emotions import EmotionStore

MAX_CONTEXT_BYTES = 65_536


class EmotionsApi(ApiBase):
    async def GetSharedEmotionalState(
        self, request: pb.GetSharedEmotionalStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSharedEmotionalStateResponse:
        return pb.GetSharedEmotionalStateResponse(state=await EmotionStore(self.resources.pool).shared_state())

    async def UpdateSharedEmotionalState(
        self, request: pb.UpdateSharedEmotionalStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateSharedEmotionalStateResponse:
        violations = Violations()
        violations.required("emotional_vector", request.HasField("emotional_vector"))
        for name in ("focus", "energy", "excitement"):
            violations.fraction(f"emotional_vector.{name}", getattr(request.emotional_vector, name))
        about = None
        if request.HasField("context"):
            about = violations.struct("context", request.context, max_bytes=MAX_CONTEXT_BYTES)
        violations.raise_if_any()
        store = EmotionStore(self.resources.pool)
        await store.share(caller().namespace, request.emotional_vector, about)
        return pb.UpdateSharedEmotionalStateResponse(state=await store.shared_state())

    async def WatchSharedEmotionalState(
        self, request: pb.WatchSharedEmotionalStateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchSharedEmotionalStateResponse]:
        store = EmotionStore(self.resources.pool)
        sent = b""
        with self.resources.emotion_signals.stream_waiter() as changed:
            while True:
                # Cleared before reading, so a change committed meanwhile is either read now or wakes us.
                changed.clear()
                state = await store.shared_state()
                # A wake-up without a change (after a listener reconnect) sends nothing.
                serialized = state.SerializeToString(deterministic=True)
                if serialized != sent:
                    yield pb.WatchSharedEmotionalStateResponse(state=state)
                    sent = serialized
                await changed.wait()
