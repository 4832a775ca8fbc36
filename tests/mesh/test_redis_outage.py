"""(d) Redis killed during load: working memory writes continue, recall continues from PostgreSQL, and
the reconciliation worker refills the cache once Redis is back."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import redis
from google.protobuf.struct_pb2 import Struct

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2_grpc, working_memory_pb2
from cerebro.runtime.roles import Role
from services.memory.store.working_memory_cache import cache_key
from tests.mesh.conftest import WORKER_REGION
from tests.mesh.harness import Mesh
from tests.mesh.loadgen import create_namespace

pytestmark = pytest.mark.e2e

WRITES_PER_PHASE = 40
REFILL_SECONDS = 30.0


def _write_items(memory: memory_service_pb2_grpc.MemoryServiceStub, namespace: str, phase: str) -> list[str]:
    """Bounded: WRITES_PER_PHASE items, each must be acknowledged; returns their ids."""
    ids = []
    for index in range(WRITES_PER_PHASE):
        content = Struct()
        content.update({"phase": phase, "index": index})
        item = working_memory_pb2.WorkingMemoryItem(context_type="task", content=content)
        response = memory.CreateWorkingMemoryItem(
            pb.CreateWorkingMemoryItemRequest(namespace=namespace, item=item, request_id=str(uuid.uuid4())), timeout=10
        )
        ids.append(response.item.item_id)
    return ids


def _recall_all(memory: memory_service_pb2_grpc.MemoryServiceStub, namespace: str, ids: list[str]) -> int:
    found = 0
    for item_id in ids:
        item = memory.GetWorkingMemoryItem(
            pb.GetWorkingMemoryItemRequest(namespace=namespace, item_id=item_id), timeout=10
        )
        found += item.item.item_id == item_id
    return found


def test_redis_outage_keeps_memory_working_and_cache_is_refilled(mesh: Mesh) -> None:
    target = mesh.memory_target(WORKER_REGION)
    namespace = f"redis-{uuid.uuid4().hex[:8]}"
    create_namespace(target, mesh.operator_tls, namespace)
    with mesh.channel(target, Role.MEMORY) as channel:
        memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
        before = _write_items(memory, namespace, "before")

        redis_server = mesh.stack.redis
        assert redis_server.pid is not None
        os.kill(redis_server.pid, signal.SIGKILL)
        try:
            during = _write_items(memory, namespace, "during")
            recalled = _recall_all(memory, namespace, before + during)
        finally:
            redis_server.stop()  # reaps the killed server and releases its directory
            redis_server.start()
        assert recalled == len(before) + len(during)

    client = redis.Redis.from_url(mesh.stack.redis_url, socket_timeout=5)
    started = time.monotonic()
    try:
        while missing := [item_id for item_id in during if not client.exists(cache_key(namespace, item_id))]:
            assert time.monotonic() - started < REFILL_SECONDS, f"{len(missing)} items never reached the cache"
            time.sleep(0.5)
    finally:
        client.close()
    print(
        f"\n[mesh d] {len(during)} writes and {recalled} recalls acknowledged with Redis down; "
        f"cache refilled {time.monotonic() - started:.1f} s after Redis returned"
    )
