"""Projects CRUD and GetStats over gRPC."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2

from cerebro.memory.v1 import episodes_pb2, identity_pb2, namespaces_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.helpers import MemoryServer, violated_fields


async def test_project_lifecycle(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    project = (
        await memory.stub.CreateProject(
            pb.CreateProjectRequest(
                namespace="nexus",
                project=namespaces_pb2.Project(display_name="CEREBRO_MASTER_NEXUS_001", dna="cerebro_master_nexus_001"),
            )
        )
    ).project
    assert project.status == namespaces_pb2.PROJECT_STATUS_ACTIVE
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateProject(
            pb.CreateProjectRequest(
                namespace="nexus", project=namespaces_pb2.Project(display_name="other", dna="cerebro_master_nexus_001")
            )
        )
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS

    paused = (
        await memory.stub.UpdateProject(
            pb.UpdateProjectRequest(
                namespace="nexus",
                project=namespaces_pb2.Project(
                    project_id=project.project_id, status=namespaces_pb2.PROJECT_STATUS_PAUSED
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            )
        )
    ).project
    assert paused.status == namespaces_pb2.PROJECT_STATUS_PAUSED and paused.dna == project.dna
    listed = await memory.stub.ListProjects(
        pb.ListProjectsRequest(namespace="nexus", status=namespaces_pb2.PROJECT_STATUS_PAUSED)
    )
    assert [item.project_id for item in listed.projects] == [project.project_id]

    episode = (
        await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(
                namespace="nexus", episode=episodes_pb2.Episode(content="in a project", project_id=project.project_id)
            )
        )
    ).episode
    await memory.stub.DeleteProject(pb.DeleteProjectRequest(namespace="nexus", project_id=project.project_id))
    kept = await memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nexus", episode_id=episode.episode_id))
    assert kept.episode.project_id == ""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetProject(pb.GetProjectRequest(namespace="nexus", project_id=project.project_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateProject(
            pb.CreateProjectRequest(namespace="nexus", project=namespaces_pb2.Project(status=7))
        )
    assert violated_fields(error.value) == ["project.display_name", "project.status"]


async def test_a_project_of_another_namespace_cannot_be_referenced(memory: MemoryServer) -> None:
    await memory.stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria")))
    foreign = (
        await memory.stub.CreateProject(
            pb.CreateProjectRequest(namespace="aria", project=namespaces_pb2.Project(display_name="aria's"))
        )
    ).project
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(
                namespace="nexus", episode=episodes_pb2.Episode(content="x", project_id=foreign.project_id)
            )
        )
    assert violated_fields(error.value) == ["episode.project_id"]


async def test_stats_describe_the_namespace(memory: MemoryServer) -> None:
    requests = [pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=f"stat {index}")) for index in range(3)]
    await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests))
    await memory.stub.CreateCheckpoint(
        pb.CreateCheckpointRequest(
            namespace="nexus",
            checkpoint=identity_pb2.Checkpoint(checkpoint_type="deployment_genesis", state_data={"phase": "stats"}),
            request_id=str(uuid.uuid4()),
        )
    )
    stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
    assert stats.episodes_total == 3 and stats.episodes_embedded == 0
    assert stats.embedding_coverage_percent == 0.0
    assert stats.queue_pending == 3 and stats.queue_dead == 0
    assert stats.queue_oldest_pending_age.ToTimedelta().total_seconds() >= 0
    assert stats.memory_blocks == 5 and stats.checkpoints == 1
    assert stats.last_checkpoint_type == "deployment_genesis" and stats.HasField("last_checkpoint_time")
    assert stats.redis_keys >= 0
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetStats(pb.GetStatsRequest(namespace="unknown"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
