"""Emotional sync: the emotional state the instances share."""

from __future__ import annotations

from cerebro.gateway.v1 import gateway_pb2 as pb
from services.gateway.api.base import ApiBase
from services.gateway.call import Call
from services.gateway.emotions import EmotionStore
from services.gateway.validation import Violations

MAX_CONTEXT_BYTES = 65_536


class EmotionsApi(ApiBase):
    async def GetSharedEmotionalState(
        self, request: pb.GetSharedEmotionalStateRequest, call: Call
    ) -> pb.GetSharedEmotionalStateResponse:
        return pb.GetSharedEmotionalStateResponse(state=await EmotionStore(self.resources.pool).shared_state())

    async def UpdateSharedEmotionalState(
        self, request: pb.UpdateSharedEmotionalStateRequest, call: Call
    ) -> pb.UpdateSharedEmotionalStateResponse:
        violations = Violations()
        if not request.HasField("emotional_vector"):
            violations.add("emotional_vector", "is required")
        for name in ("focus", "energy", "excitement"):
            violations.fraction(f"emotional_vector.{name}", getattr(request.emotional_vector, name))
        context = None
        if request.HasField("context"):
            context = violations.struct("context", request.context, max_bytes=MAX_CONTEXT_BYTES)
        violations.raise_if_any()
        store = EmotionStore(self.resources.pool)
        await store.share(call.caller.namespace, request.emotional_vector, context)
        return pb.UpdateSharedEmotionalStateResponse(state=await store.shared_state())
