"""Inputs that used to poison reads or surface as INTERNAL, against `cerebro up`: both faces of the
gateway, and memory and consensus called directly on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from typing import Any

import aiohttp
import asyncpg
import grpc
import pytest
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.safe_values import MAX_JSON_DEPTH, json_depth
from tests.bad_actors.conftest import UpMesh

pytestmark = pytest.mark.e2e

# Deep enough to break every reader before the fix: three message levels per level of JSON, and the
# protobuf decoder stops at 100.
POISON_DEPTH = 33


def nested(depth: int, leaf: object = "deep") -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": leaf}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return [violation.field for violation in bad_request.field_violations]


def remember(content: str, metadata: dict[str, Any]) -> pb.RememberRequest:
    request = pb.RememberRequest(content=content)
    request.metadata.update(metadata)  # not a constructor argument: that copy goes through the decoder
    return request


async def poison(up_mesh: UpMesh, table: str, column: str, key: str, row_id: str, value: dict[str, Any]) -> None:
    """Overwrite a stored JSON value as a write from before the edge check could have left it."""
    connection = await asyncpg.connect(up_mesh.owner_url)
    try:
        # Constant table and column names from this file; the values are parameters.
        await connection.execute(
            f"UPDATE memory.{table} SET {column} = $1::jsonb WHERE {key} = $2::uuid", json.dumps(value), row_id
        )
    finally:
        await connection.close()


class TestStructsCannotPoisonReads:
    async def test_a_struct_40_deep_is_refused_on_both_faces_and_reads_stay_whole(
        self, up_mesh: UpMesh, gateway: gateway_pb2_grpc.AgentGatewayStub, namespace: str
    ) -> None:
        token = await up_mesh.issue_key(namespace)
        remembered = await gateway.Remember(
            remember("NEXUS charted the northern relay", {"fine": nested(5)}), metadata=bearer(token)
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await gateway.Remember(remember("NEXUS charted a trap", nested(40)), metadata=bearer(token))
        assert violated_fields(caught.value) == ["metadata"]
        async with aiohttp.ClientSession(up_mesh.http_url) as http:
            response = await http.post(
                "/memory/action",
                json={"content": "a trap", "action_details": nested(40)},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status == 400
            assert (await response.json())["details"][0]["fieldViolations"][0]["field"] == "action_details"
        recalled = await gateway.Recall(pb.RecallRequest(query="northern relay"), metadata=bearer(token))
        assert [hit.episode.episode_id for hit in recalled.hits] == [remembered.episode.episode_id]

    async def test_rows_poisoned_before_the_fix_are_read_cut_at_the_limit_by_owner_and_grantee(
        self, up_mesh: UpMesh, gateway: gateway_pb2_grpc.AgentGatewayStub, namespace: str
    ) -> None:
        owner, grantee = namespace, f"{namespace}-reader"
        owner_token, grantee_token = await up_mesh.issue_key(owner), await up_mesh.issue_key(grantee)
        await up_mesh.grant_read(owner, grantee)
        episode = (
            await gateway.Remember(remember("ARIA mapped the southern relay", {}), metadata=bearer(owner_token))
        ).episode
        knowledge = pb.UpsertKnowledgeRequest(knowledge={"concept": "southern relay", "definition": "a relay"})
        learned = (await gateway.UpsertKnowledge(knowledge, metadata=bearer(owner_token))).knowledge
        await poison(up_mesh, "episodes", "metadata", "episode_id", episode.episode_id, nested(POISON_DEPTH))
        await poison(
            up_mesh,
            "semantic_memories",
            "relationships",
            "semantic_memory_id",
            learned.semantic_memory_id,
            {"kept": 1, "deep": nested(POISON_DEPTH)},
        )

        for token in (owner_token, grantee_token):
            recalled = await gateway.Recall(
                pb.RecallRequest(query="southern relay", namespace=owner), metadata=bearer(token)
            )
            (hit,) = recalled.hits
            assert hit.episode.episode_id == episode.episode_id
            assert json_depth(hit.episode.metadata) == MAX_JSON_DEPTH
            searched = await gateway.SearchKnowledge(
                pb.SearchKnowledgeRequest(query="southern relay", namespace=owner), metadata=bearer(token)
            )
            (found,) = searched.hits
            relationships = found.semantic_memory.relationships
            assert relationships["kept"] == 1 and json_depth(relationships) == MAX_JSON_DEPTH
        async with aiohttp.ClientSession(up_mesh.http_url) as http:
            response = await http.post(
                "/memory/search",
                json={"query": "southern relay", "namespace": owner},
                headers={"Authorization": f"Bearer {grantee_token}"},
            )
            assert response.status == 200, await response.text()
            assert len((await response.json())["hits"]) == 1


class TestBadInputIsAFieldError:
    async def test_nan_and_infinity_over_grpc(
        self, up_mesh: UpMesh, gateway: gateway_pb2_grpc.AgentGatewayStub, namespace: str
    ) -> None:
        token = await up_mesh.issue_key(namespace)
        request = remember("x", {"ratio": math.nan, "list": [1, -math.inf]})
        request.importance = math.inf
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await gateway.Remember(request, metadata=bearer(token))
        assert sorted(violated_fields(caught.value)) == ["importance", "metadata.list[1]", "metadata.ratio"]

    async def test_1e400_over_http(self, up_mesh: UpMesh, namespace: str) -> None:
        token = await up_mesh.issue_key(namespace)
        async with aiohttp.ClientSession(up_mesh.http_url) as http:
            response = await http.post(
                "/memory/action",
                data=b'{"content": "x", "metadata": {"ratio": 1e400}}',
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert response.status == 400
            status = await response.json()
        assert status["details"][0]["fieldViolations"][0]["field"] == "metadata.ratio"

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param(b"\xff\xff\xff\xff", id="corrupt"),
            pytest.param(b"\x12\x04\x1a\x02\xc3\x28", id="invalid-utf8"),
        ],
    )
    @pytest.mark.parametrize(
        "method",
        ["/cerebro.memory.v1.MemoryService/CreateEpisode", "/cerebro.gateway.v1.AgentGateway/Remember"],
    )
    async def test_undecodable_messages_are_invalid_argument(
        self, up_mesh: UpMesh, namespace: str, payload: bytes, method: str
    ) -> None:
        process = "memory" if "MemoryService" in method else "gateway"
        # The gateway authenticates before it looks at the input: an agent with a key gets the field error.
        metadata = (("authorization", f"Bearer {await up_mesh.issue_key(namespace)}"),) if process == "gateway" else ()
        async with up_mesh.channel(process) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(method)(payload, timeout=10, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "DecodeError" not in (caught.value.details() or "")

    async def test_a_caller_without_credentials_learns_nothing_of_its_input(self, up_mesh: UpMesh) -> None:
        async with up_mesh.channel("gateway") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary("/cerebro.gateway.v1.AgentGateway/Remember")(b"\xff\xff\xff\xff", timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_page_tokens_holding_deeply_nested_json(self, up_mesh: UpMesh, namespace: str) -> None:
        for depth in (100, 5000):
            token = base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).decode().rstrip("=")
            async with up_mesh.channel("memory") as channel:
                memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as from_memory:
                    await memory.ListNamespaces(memory_service_pb2.ListNamespacesRequest(page_token=token))
            async with up_mesh.channel("consensus") as channel:
                consensus = consensus_pb2_grpc.ConsensusServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as from_consensus:
                    await consensus.ListInstances(consensus_pb2.ListInstancesRequest(page_token=token))
            assert violated_fields(from_memory.value) == ["page_token"]
            assert violated_fields(from_consensus.value) == ["page_token"]


class TestEveryHttpErrorIsAGoogleRpcStatus:
    @pytest.mark.parametrize(
        "request_bytes",
        [
            pytest.param(b"GET /" + b"a" * 10_240 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="10KB-path"),
            pytest.param(b"BREW /pot HTTP/9.9\r\n\r\n", id="bad-request-line"),
        ],
    )
    async def test_requests_aiohttp_cannot_parse(self, up_mesh: UpMesh, request_bytes: bytes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", up_mesh.http_port)
        try:
            writer.write(request_bytes)
            response = await asyncio.wait_for(reader.read(), timeout=10)
        finally:
            writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.split()[1] == b"400"
        assert b"application/json" in head
        status = json.loads(body)
        assert status["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert set(status) == {"code", "message", "details"}


def test_the_poisoned_depth_breaks_readers_without_the_cut() -> None:
    """A Recall response holding a value POISON_DEPTH deep does not decode: that row broke every reader."""
    response = pb.RecallResponse()
    hit = response.hits.add()
    hit.episode.metadata.update(nested(POISON_DEPTH))
    with pytest.raises(DecodeError):
        pb.RecallResponse.FromString(response.SerializeToString())
