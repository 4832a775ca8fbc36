"""`cerebro.memory.v1.MemoryService`: the API parts combined into one servicer."""

from __future__ import annotations

from cerebro.memory.v1 import memory_service_pb2_grpc
from services.memory.api.blocks import MemoryBlocksApi
from services.memory.api.checkpoints import CheckpointsApi
from services.memory.api.consciousness import ConsciousnessApi
from services.memory.api.episodes import EpisodesApi
from services.memory.api.namespaces import NamespacesApi
from services.memory.api.projects import ProjectsApi
from services.memory.api.search import SearchApi
from services.memory.api.semantic import SemanticMemoriesApi
from services.memory.api.stats import StatsApi
from services.memory.api.working_memory import WorkingMemoryApi


class MemoryServicer(
    NamespacesApi,
    EpisodesApi,
    SearchApi,
    WorkingMemoryApi,
    MemoryBlocksApi,
    CheckpointsApi,
    ConsciousnessApi,
    ProjectsApi,
    SemanticMemoriesApi,
    StatsApi,
    memory_service_pb2_grpc.MemoryServiceServicer,
):
    """Every RPC of MemoryService, one API part per resource (tests check that none is left unimplemented)."""
