"""Who may call what, through real gRPC: credentials, read-only keys, rate limits, namespaces and grants."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from services.gateway.store import keys
from services.gateway.store.credentials import Scope
from tests.gateway.harness import Mesh, bearer, retry_delay_seconds


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_calls_without_valid_credentials_are_unauthenticated(mesh: Mesh, namespace: str) -> None:
    stub = mesh.gateway.stub
    request = pb.RememberRequest(content="NEXUS remembers")
    issued = await mesh.issue(namespace)
    revoked = await mesh.issue(namespace)
    connection = await mesh.admin()
    try:
        await keys.revoke_key(connection, revoked.key_id)
    finally:
        await connection.close()
    attempts = [
        (),
        (("authorization", "Basic bmV4dXM6cGFzcw=="),),
        bearer("crb_not-a-key"),
        bearer(issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")),
        bearer(revoked.token),
    ]
    for metadata in attempts:
        assert await code_of(stub.Remember(request, metadata=metadata)) == grpc.StatusCode.UNAUTHENTICATED
    assert await code_of(stub.Remember(request, metadata=bearer(issued.token))) == grpc.StatusCode.OK


async def test_health_and_reflection_need_no_credentials(mesh: Mesh) -> None:
    channel = mesh.gateway.channel
    health = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="cerebro.gateway.v1.AgentGateway")
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    async for response in responses:
        names = {service.name for service in response.list_services_response.service}
        assert "cerebro.gateway.v1.AgentGateway" in names
        break
    comprehensive = await mesh.gateway.stub.GetHealth(pb.GetHealthRequest())
    statuses = {component.name: component.status for component in comprehensive.components}
    # The embedder double serves no grpc.health.v1, so it counts as down: search would run on text only.
    assert statuses == {
        "postgres": resources_pb2.HEALTH_STATUS_SERVING,
        "notifications": resources_pb2.HEALTH_STATUS_SERVING,
        "memory": resources_pb2.HEALTH_STATUS_SERVING,
        "consensus": resources_pb2.HEALTH_STATUS_SERVING,
        "embedder": resources_pb2.HEALTH_STATUS_NOT_SERVING,
    }
    assert comprehensive.status == resources_pb2.HEALTH_STATUS_DEGRADED


async def test_read_only_keys_read_but_do_not_write(mesh: Mesh, namespace: str) -> None:
    writer = await mesh.issue(namespace)
    reader = await mesh.issue(namespace, scope=Scope.READ_ONLY)
    stub = mesh.gateway.stub
    await stub.Remember(pb.RememberRequest(content="the reader may see this"), metadata=bearer(writer.token))
    recalled = await stub.Recall(pb.RecallRequest(query="reader"), metadata=bearer(reader.token))
    assert [hit.episode.content for hit in recalled.hits] == ["the reader may see this"]
    writes = [
        stub.Remember(pb.RememberRequest(content="no"), metadata=bearer(reader.token)),
        stub.UpsertKnowledge(pb.UpsertKnowledgeRequest(knowledge={"concept": "no"}), metadata=bearer(reader.token)),
        stub.UpdateSharedEmotionalState(
            pb.UpdateSharedEmotionalStateRequest(emotional_vector={"focus": 0.5, "energy": 0.5, "excitement": 0.5}),
            metadata=bearer(reader.token),
        ),
    ]
    assert [await code_of(call) for call in writes] == [grpc.StatusCode.PERMISSION_DENIED] * 3
    listed = await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=bearer(reader.token))
    assert len(listed.episodes) == 1


async def test_each_key_has_a_rate_limit_with_retry_info(mesh: Mesh, namespace: str) -> None:
    limited = await mesh.issue(namespace, rate_per_second=0.5, burst=2)
    other = await mesh.issue(namespace, rate_per_second=0.5, burst=2)
    stub = mesh.gateway.stub
    request = pb.GetSharedEmotionalStateRequest()
    for _ in range(2):
        await stub.GetSharedEmotionalState(request, metadata=bearer(limited.token))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetSharedEmotionalState(request, metadata=bearer(limited.token))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0 < retry_delay_seconds(caught.value) <= 2.0
    # The limit is per key: another key of the same namespace is unaffected.
    await stub.GetSharedEmotionalState(request, metadata=bearer(other.token))


async def test_concurrent_calls_each_reach_the_method_as_their_own_caller(mesh: Mesh) -> None:
    """The caller travels from the interceptor to the method with the call: calls of several credentials
    interleaved on one gateway each work on their own namespace."""
    suffix = namespace_suffix()
    namespaces = [f"agent{index}-{suffix}" for index in range(4)]
    tokens = {ns: bearer((await mesh.issue(ns)).token) for ns in namespaces}
    expected = [ns for _ in range(5) for ns in namespaces]
    responses = await asyncio.gather(
        *(mesh.gateway.stub.GetStats(pb.GetStatsRequest(), metadata=tokens[ns]) for ns in expected)
    )
    assert [response.namespace for response in responses] == expected


async def test_namespaces_are_private_unless_granted(mesh: Mesh) -> None:
    suffix = namespace_suffix()
    nexus_ns, aria_ns = f"nexus-{suffix}", f"aria-{suffix}"
    nexus = bearer((await mesh.issue(nexus_ns)).token)
    aria = bearer((await mesh.issue(aria_ns)).token)
    stub = mesh.gateway.stub
    await stub.Remember(pb.RememberRequest(content="private plan of the migration", tags=["secret"]), metadata=nexus)
    await stub.UpsertKnowledge(
        pb.UpsertKnowledgeRequest(knowledge={"concept": "migration", "definition": "private plan"}), metadata=nexus
    )
    assert not (await stub.Recall(pb.RecallRequest(query="migration plan"), metadata=aria)).hits
    denied = [
        stub.Recall(pb.RecallRequest(query="migration", namespace=nexus_ns), metadata=aria),
        stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(namespace=nexus_ns), metadata=aria),
        stub.SearchKnowledge(pb.SearchKnowledgeRequest(query="migration", namespace=nexus_ns), metadata=aria),
        stub.ListMemoryBlocks(pb.ListMemoryBlocksRequest(namespace=nexus_ns), metadata=aria),
    ]
    assert [await code_of(call) for call in denied] == [grpc.StatusCode.PERMISSION_DENIED] * 4

    connection = await mesh.admin()
    try:
        await keys.grant_read(connection, nexus_ns, aria_ns)
        granted = await stub.Recall(pb.RecallRequest(query="migration", namespace=nexus_ns), metadata=aria)
        assert [hit.episode.content for hit in granted.hits] == ["private plan of the migration"]
        assert granted.namespace == nexus_ns
        knowledge = await stub.SearchKnowledge(
            pb.SearchKnowledgeRequest(query="migration", namespace=nexus_ns), metadata=aria
        )
        assert [hit.semantic_memory.concept for hit in knowledge.hits] == ["migration"]
        # The grant is for reading: ARIA's writes still go to ARIA's own namespace.
        await stub.Remember(pb.RememberRequest(content="ARIA's own migration note"), metadata=aria)
        nexus_view = await stub.Recall(pb.RecallRequest(query="migration"), metadata=nexus)
        assert [hit.episode.content for hit in nexus_view.hits] == ["private plan of the migration"]
        # A grant is one-way.
        assert (
            await code_of(stub.Recall(pb.RecallRequest(query="note", namespace=aria_ns), metadata=nexus))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        await keys.revoke_read(connection, nexus_ns, aria_ns)
    finally:
        await connection.close()
    for _ in range(100):  # the revocation reaches the gateway's cache by notification
        if (
            await code_of(stub.Recall(pb.RecallRequest(query="migration", namespace=nexus_ns), metadata=aria))
            == grpc.StatusCode.PERMISSION_DENIED
        ):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the revoked grant still allows reading")


def namespace_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:8]
