"""`cerebro.gateway.v1.AgentGateway`: the API parts combined.

Each method takes the request and a :class:`services.gateway.call.Call` (the admitted caller and its
deadline) and returns the response, or yields them for server streams. The gRPC face adapts it in
services.gateway.adapter; the HTTP/JSON face calls the same methods.
"""

from __future__ import annotations

from services.gateway.api.decisions import DecisionsApi
from services.gateway.api.emotions import EmotionsApi
from services.gateway.api.episodes import EpisodesApi
from services.gateway.api.identity import IdentityApi
from services.gateway.api.instances import InstancesApi
from services.gateway.api.knowledge import KnowledgeApi
from services.gateway.api.learning import LearningApi
from services.gateway.api.system import SystemApi
from services.gateway.api.tasks import TasksApi
from services.gateway.api.working_memory import WorkingMemoryApi


class GatewayApi(
    EpisodesApi,
    WorkingMemoryApi,
    IdentityApi,
    KnowledgeApi,
    InstancesApi,
    DecisionsApi,
    LearningApi,
    EmotionsApi,
    TasksApi,
    SystemApi,
):
    """Every AgentGateway method (a test checks that none is missing)."""
