"""WatchSharedEmotionalState: the shared state now, then after each change, from any gateway replica."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from services.gateway.store import keys
from services.gateway.store.credentials import Scope
from tests.gateway.harness import Mesh, bearer

Metadata = tuple[tuple[str, str], ...]


async def next_state(stream: grpc.aio.UnaryStreamCall, timeout: float = 10.0) -> resources_pb2.SharedEmotionalState:
    message = await asyncio.wait_for(stream.read(), timeout)
    assert message is not grpc.aio.EOF, await stream.code()
    return message.state


async def state_with(
    stream: grpc.aio.UnaryStreamCall, namespace: str, focus: float
) -> resources_pb2.SharedEmotionalState:
    """The first state on ``stream`` in which ``namespace`` shares ``focus`` (other tests share too)."""
    while True:
        state = await next_state(stream)
        if any(m.namespace == namespace and m.emotional_vector.focus == pytest.approx(focus) for m in state.members):
            return state


async def share(stub: object, metadata: Metadata, focus: float) -> None:
    await stub.UpdateSharedEmotionalState(  # type: ignore[attr-defined]
        pb.UpdateSharedEmotionalStateRequest(emotional_vector={"focus": focus, "energy": 0.5, "excitement": 0.5}),
        metadata=metadata,
    )


async def test_a_change_made_through_one_replica_reaches_a_watcher_on_another(mesh: Mesh) -> None:
    suffix = uuid.uuid4().hex[:6]
    nexus_ns, aria_ns = f"nexus-{suffix}", f"aria-{suffix}"
    nexus = bearer((await mesh.issue(nexus_ns)).token)
    aria = bearer((await mesh.issue(aria_ns, scope=Scope.READ_ONLY)).token)
    await share(mesh.gateway.stub, nexus, 0.1)
    async with mesh.another_gateway("emotions-b") as replica_b:
        # A read-only key of another namespace watches on replica B; NEXUS writes through replica A.
        stream = replica_b.stub.WatchSharedEmotionalState(pb.WatchSharedEmotionalStateRequest(), metadata=aria)
        try:
            first = await next_state(stream)
            assert {m.namespace: m.emotional_vector.focus for m in first.members}[nexus_ns] == pytest.approx(0.1)
            await share(mesh.gateway.stub, nexus, 0.8)
            after = await state_with(stream, nexus_ns, 0.8)
            members = {m.namespace: m for m in after.members}
            assert members[nexus_ns].emotional_vector.focus == pytest.approx(0.8)
            mean_focus = sum(m.emotional_vector.focus for m in after.members) / len(after.members)
            assert after.mean.focus == pytest.approx(mean_focus)
            await share(mesh.gateway.stub, nexus, 0.3)
            assert (await state_with(stream, nexus_ns, 0.3)).update_time.ToDatetime() >= after.update_time.ToDatetime()
        finally:
            stream.cancel()


async def test_a_watch_started_again_gets_the_state_it_missed(mesh: Mesh, namespace: str) -> None:
    agent = bearer((await mesh.issue(namespace)).token)
    await share(mesh.gateway.stub, agent, 0.2)
    stream = mesh.gateway.stub.WatchSharedEmotionalState(pb.WatchSharedEmotionalStateRequest(), metadata=agent)
    await state_with(stream, namespace, 0.2)
    stream.cancel()
    # Changed while nobody watched: the next watch starts from it.
    await share(mesh.gateway.stub, agent, 0.9)
    again = mesh.gateway.stub.WatchSharedEmotionalState(pb.WatchSharedEmotionalStateRequest(), metadata=agent)
    try:
        first = await next_state(again)
        assert {m.namespace: m.emotional_vector.focus for m in first.members}[namespace] == pytest.approx(0.9)
    finally:
        again.cancel()


async def test_a_watch_sends_nothing_while_nothing_changes(mesh: Mesh, namespace: str) -> None:
    agent = bearer((await mesh.issue(namespace)).token)
    await share(mesh.gateway.stub, agent, 0.4)
    stream = mesh.gateway.stub.WatchSharedEmotionalState(pb.WatchSharedEmotionalStateRequest(), metadata=agent)
    try:
        await state_with(stream, namespace, 0.4)
        # A wake-up without a change (as after the listener reconnects) repeats nothing: the stream
        # hears this notification, reads the state again and finds it as sent.
        connection = await mesh.admin()
        try:
            await connection.execute("SELECT pg_notify('cerebro_gateway_emotions', 'nobody')")
        finally:
            await connection.close()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.read(), 1.5)
    finally:
        stream.cancel()


async def test_a_watch_needs_a_valid_credential(mesh: Mesh, namespace: str) -> None:
    request = pb.WatchSharedEmotionalStateRequest()
    without = mesh.gateway.stub.WatchSharedEmotionalState(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await without.read()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    issued = await mesh.issue(namespace)
    connection = await mesh.admin()
    try:
        assert await keys.revoke_key(connection, issued.key_id)
    finally:
        await connection.close()
    revoked = mesh.gateway.stub.WatchSharedEmotionalState(request, metadata=bearer(issued.token))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await revoked.read()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_change_made_while_the_listener_is_down_still_reaches_the_watcher(mesh: Mesh, namespace: str) -> None:
    agent = bearer((await mesh.issue(namespace)).token)
    await share(mesh.gateway.stub, agent, 0.15)
    async with mesh.another_gateway("emotions-listener") as replica_b:
        stream = replica_b.stub.WatchSharedEmotionalState(pb.WatchSharedEmotionalStateRequest(), metadata=agent)
        try:
            await state_with(stream, namespace, 0.15)
            connection = await mesh.admin()
            try:
                # Every gateway's listening connection dies, and the change sends no notification (as one
                # sent while nobody listened): only the listener's reconnect can wake the stream to read it.
                async with connection.transaction():
                    await connection.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = 'cerebro gateway listener' AND datname = current_database()"
                    )
                    await connection.execute(
                        "UPDATE gateway.shared_emotions SET focus = 0.65, updated_at = now() WHERE namespace = $1",
                        namespace,
                    )
            finally:
                await connection.close()
            await state_with(stream, namespace, 0.65)
        finally:
            stream.cancel()


async def test_a_watch_shows_another_namespace_no_more_than_get_does(mesh: Mesh) -> None:
    """The shared state is the mesh's, read by every namespace's keys (GetSharedEmotionalState); a watch
    shows another namespace exactly that, and a reader that never shared is no member of it."""
    suffix = uuid.uuid4().hex[:6]
    nexus = bearer((await mesh.issue(f"nexus-{suffix}")).token)
    aria_ns = f"aria-{suffix}"
    aria = bearer((await mesh.issue(aria_ns, scope=Scope.READ_ONLY)).token)
    await share(mesh.gateway.stub, nexus, 0.35)
    got = await mesh.gateway.stub.GetSharedEmotionalState(pb.GetSharedEmotionalStateRequest(), metadata=aria)
    stream = mesh.gateway.stub.WatchSharedEmotionalState(pb.WatchSharedEmotionalStateRequest(), metadata=aria)
    try:
        assert await next_state(stream) == got.state
        assert aria_ns not in {member.namespace for member in got.state.members}
    finally:
        stream.cancel()
