"""`cerebro.gateway.v1.AgentGateway`: the API parts combined into one servicer.

Every method has the generated signature, ``(request, context) -> response`` (or an async iterator of
responses for a server stream), and is implemented in the part named after its resource.
"""

from __future__ import annotations

from services.gateway.api.decisions import DecisionsApi
from services.gateway.api.emotions import EmotionsApi
from services.gateway.api.episodes import EpisodesApi
from services.gateway.api.identity import IdentityApi
from services.gateway.api.instances import InstancesApi
from services.gateway.api.knowledge import KnowledgeApi
from services.gateway.api.learning import LearningApi
from services.gateway.api.projects import ProjectsApi
from services.gateway.api.system import SystemApi
from services.gateway.api.tasks import TasksApi
from services.gateway.api.working_memory import WorkingMemoryApi


class GatewayServicer(
    EpisodesApi,
    ProjectsApi,
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
    """Every AgentGateway method (a test checks that none is left to the generated base)."""
