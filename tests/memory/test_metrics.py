"""The memory metrics the dashboard reads, checked in the prometheus_client registry after real work."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from cerebro.memory.v1 import episodes_pb2, namespaces_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from services.memory import embeddings_worker
from tests.memory.embedder_double import POISON, EmbedderDouble
from tests.memory.helpers import MemoryServer, running_embeddings_worker
from tests.support import eventually


def coverage() -> float | None:
    return REGISTRY.get_sample_value("memory_embedding_coverage_ratio")


async def create(memory: MemoryServer, namespace: str, contents: list[str]) -> None:
    await memory.stub.BatchCreateEpisodes(
        pb.BatchCreateEpisodesRequest(
            namespace=namespace,
            requests=[pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=text)) for text in contents],
        )
    )


async def test_embedding_coverage_counts_every_namespace(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings_worker, "COVERAGE_INTERVAL_SECONDS", 0.0)
    # Three of four episodes, in two namespaces, can be embedded; the poisoned one dies.
    await memory.stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="elsewhere")))
    await create(memory, "nexus", ["covered one", f"never covered {POISON}"])
    await create(memory, "elsewhere", ["covered two", "covered three"])
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_MAX_ATTEMPTS": "1"}
    ):
        await eventually(lambda: _is(coverage(), 0.75))


async def test_embedding_coverage_of_no_episode_is_complete(
    memory_database_url: str, embedder: EmbedderDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings_worker, "COVERAGE_INTERVAL_SECONDS", 0.0)
    embeddings_worker.COVERAGE.set(0.5)
    async with running_embeddings_worker(memory_database_url, embedder.target):
        await eventually(lambda: _is(coverage(), 1.0))


async def _is(value: float | None, expected: float) -> bool:
    return value == pytest.approx(expected)
