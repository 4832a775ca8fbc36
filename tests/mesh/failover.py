"""The failover drill: the primary's region is lost, a replica region is promoted and takes the writes.

The steps, in the order docs/deploy.md's runbook ("The primary's region is lost") gives them:

1. ``region`` has a streaming replica of the primary, following it through the region's link; with
   ``synchronous``, the primary waits for it on every commit (``synchronous_standby_names``).
2. Writers write episodes through the memory service beside the primary. After each acknowledgement the
   writer reads the primary's flushed WAL position: the write's commit lies at or before it (PostgreSQL
   acknowledges a commit only once it is flushed), so it is an upper bound on where the write sits.
3. The primary's region is lost: the replica's link is cut (nothing more reaches the replica), then the
   primary stops at once (immediate shutdown: it says nothing more to anyone).
4. The replica's last replayed position is read, once replay has caught up with what it received; the
   replica is promoted (`pg_ctl promote`), and the region's memory service is restarted on it: the
   writers are repointed.
5. What may be lost is checked: every write acknowledged at or before the replayed position is found
   after promotion, under its acknowledged id, once; writes found are writes made; the writes lost
   all lie after the replayed position (with a synchronous standby: none is lost). A new write is
   accepted by the new primary.

:func:`restore` then puts the mesh back as it was (the old primary restarted; the promoted replica,
which was only a drill, discarded), so later scenarios see the mesh they always saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
import grpc

from cerebro.memory.v1 import episodes_pb2, memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.channels import channel_credentials
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role
from tests.mesh.harness import Mesh
from tests.mesh.loadgen import CHANNEL_OPTIONS, create_namespace
from tests.mesh.processes import alive_pids
from tests.mesh.replica import StreamingReplica

CALL_TIMEOUT_SECONDS = 5.0
CATCH_UP_SECONDS = 10.0
PRIMARY_STOP_SECONDS = 30.0


def lsn_value(text: str) -> int:
    """A pg_lsn's text (``16/B374D848``) as a number, so that positions compare."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class Acknowledged:
    episode_id: str
    # The primary's flushed WAL position read right after the acknowledgement: the write is at or before it.
    flushed_by: int


@dataclass
class DrillReport:
    namespace: str
    synchronous: bool
    attempted: set[str] = field(default_factory=set)
    acknowledged: dict[str, Acknowledged] = field(default_factory=dict)
    errors: int = 0
    replayed: int = 0
    # content -> episode ids stored under it, read from the promoted database.
    found: dict[str, list[str]] = field(default_factory=dict)
    cut_to_promoted_seconds: float = 0.0
    promoted_to_serving_seconds: float = 0.0

    @property
    def covered(self) -> dict[str, Acknowledged]:
        """Acknowledged writes that lie at or before the replayed position: none of them may be lost."""
        return {content: ack for content, ack in self.acknowledged.items() if ack.flushed_by <= self.replayed}

    @property
    def lost(self) -> dict[str, Acknowledged]:
        return {content: ack for content, ack in self.acknowledged.items() if content not in self.found}

    def summary(self) -> str:
        return (
            f"{'synchronous' if self.synchronous else 'asynchronous'}: {len(self.attempted)} writes attempted, "
            f"{len(self.acknowledged)} acknowledged ({len(self.covered)} at or before the replayed position), "
            f"{len(self.lost)} of them lost, {self.errors} failed; promoted {self.cut_to_promoted_seconds:.1f} s "
            f"after the cut, the region's memory SERVING on it {self.promoted_to_serving_seconds:.1f} s later"
        )


class Writers:
    """``concurrency`` writers through ``target`` into ``namespace`` until stopped, on their own thread."""

    def __init__(self, target: str, tls: TlsSettings, primary_url: str, report: DrillReport, concurrency: int) -> None:
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(target, tls, primary_url, report, concurrency), daemon=True
        )
        self._thread.start()

    def _run(self, target: str, tls: TlsSettings, primary_url: str, report: DrillReport, concurrency: int) -> None:
        try:
            asyncio.run(self._write(target, tls, primary_url, report, concurrency))
        except BaseException as error:
            self._error = error

    async def _write(
        self, target: str, tls: TlsSettings, primary_url: str, report: DrillReport, concurrency: int
    ) -> None:
        async def writer(stub: memory_service_pb2_grpc.MemoryServiceStub, number: int) -> None:
            observer = await asyncpg.connect(primary_url)
            try:
                for index in range(1_000_000):
                    if self._stop.is_set():
                        return
                    content = f"drill {report.namespace} writer {number} write {index}"
                    report.attempted.add(content)
                    request = memory_service_pb2.CreateEpisodeRequest(
                        namespace=report.namespace,
                        episode=episodes_pb2.Episode(content=content),
                        request_id=str(uuid.uuid4()),
                    )
                    try:
                        response = await stub.CreateEpisode(request, timeout=CALL_TIMEOUT_SECONDS)
                        flushed = await observer.fetchval("SELECT pg_current_wal_flush_lsn()::text")
                    except (grpc.aio.AioRpcError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        # The primary is gone: the write is not acknowledged (or its bound unknown); stop.
                        report.errors += 1
                        return
                    report.acknowledged[content] = Acknowledged(response.episode.episode_id, lsn_value(flushed))
            finally:
                with contextlib.suppress(Exception):
                    observer.terminate()

        channel = grpc.aio.secure_channel(target, channel_credentials(tls), options=CHANNEL_OPTIONS)
        async with channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            await asyncio.gather(*(writer(stub, number) for number in range(concurrency)))

    def wait_for(self, report: DrillReport, writes: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(report.acknowledged) < writes:
            if self._error is not None:
                raise self._error
            assert time.monotonic() < deadline, f"only {len(report.acknowledged)} writes acknowledged"
            time.sleep(0.02)

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the writers did not stop"
        if self._error is not None:
            raise self._error


def _primary_sql(mesh: Mesh, sql: str) -> object:
    async def run() -> object:
        connection = await asyncpg.connect(mesh.stack.database_url)
        try:
            return await connection.fetchval(sql)
        finally:
            await connection.close()

    return asyncio.run(run())


def _wait_replica_streaming(mesh: Mesh, replica: StreamingReplica, *, synchronous: bool) -> None:
    """Until the primary sees ``replica`` streaming (synchronously, if asked) and it replayed up to now."""
    deadline = time.monotonic() + CATCH_UP_SECONDS * 3
    wanted = "sync" if synchronous else "async"
    name = replica.application_name
    while True:
        state = _primary_sql(
            mesh,
            f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}' AND state = 'streaming'",
        )
        if state == wanted:
            break
        assert time.monotonic() < deadline, (
            f"{name} is not streaming {wanted}ly (state {state!r}):\n{replica.log_tail()}"
        )
        time.sleep(0.1)
    target = lsn_value(str(_primary_sql(mesh, "SELECT pg_current_wal_flush_lsn()::text")))
    while lsn_value(replica.replay_lsn()) < target:
        assert time.monotonic() < deadline, "the replica does not catch up"
        time.sleep(0.05)


def _set_synchronous_standby(mesh: Mesh, application_name: str | None) -> None:
    """Make the primary wait for ``application_name`` on every commit, or (None) for no one."""
    setting = (
        "RESET synchronous_standby_names"
        if application_name is None
        else (f"SET synchronous_standby_names = '\"{application_name}\"'")
    )
    _primary_sql(mesh, f"ALTER SYSTEM {setting}")
    _primary_sql(mesh, "SELECT pg_reload_conf()")


def _lose_the_primary(mesh: Mesh, region: str) -> None:
    """The primary's region is lost: the replica's link first, then the primary itself, without goodbye."""
    mesh.cut(region)
    pid = mesh.stack.postgres.pid
    assert pid is not None
    # Immediate shutdown (SIGQUIT): no checkpoint, nothing more sent to standbys.
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + PRIMARY_STOP_SECONDS
    while alive_pids([pid]):
        assert time.monotonic() < deadline, "the primary did not stop"
        time.sleep(0.05)
    # Releases the embedded server's bookkeeping (the process is gone already).
    mesh.stack.postgres.stop()


def _settled_replay(replica: StreamingReplica) -> int:
    """The replayed position once replay has caught up with everything the replica received."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        received, replayed = (
            replica.query("SELECT pg_last_wal_receive_lsn()::text"),
            replica.query("SELECT pg_last_wal_replay_lsn()::text"),
        )
        if received is None or lsn_value(str(replayed)) >= lsn_value(str(received)):
            return lsn_value(str(replayed))
        assert time.monotonic() < deadline, "replay never caught up with what was received"
        time.sleep(0.05)


def run_drill(
    mesh: Mesh, *, region: str, writer_region: str, synchronous: bool, acknowledged_before_cut: int
) -> DrillReport:
    """Steps 1-5 above; the mesh is left failed over (call :func:`restore`)."""
    report = DrillReport(namespace=f"drill-{uuid.uuid4().hex[:8]}", synchronous=synchronous)
    replica = mesh.start_replica(region)
    if synchronous:
        _set_synchronous_standby(mesh, replica.application_name)
    _wait_replica_streaming(mesh, replica, synchronous=synchronous)
    writer_target = mesh.memory_target(writer_region)
    create_namespace(writer_target, mesh.operator_tls, report.namespace)

    writers = Writers(writer_target, mesh.operator_tls, mesh.stack.database_url, report, concurrency=2)
    try:
        writers.wait_for(report, acknowledged_before_cut, timeout=60)
        cut_at = time.monotonic()
        _lose_the_primary(mesh, region)
    finally:
        writers.stop(timeout=CALL_TIMEOUT_SECONDS * 3)
    # The region itself is reachable again (its Redis, consensus); the primary behind its link is gone.
    mesh.heal(region)
    report.replayed = _settled_replay(replica)
    replica.promote()
    promoted_at = time.monotonic()
    report.cut_to_promoted_seconds = promoted_at - cut_at

    # Repoint the region's writers: its memory service on the promoted database.
    label = f"memory@{region}"
    mesh.retire(label)
    mesh.start_in_region(region, "memory", database_url=replica.url()).wait_ready()
    report.promoted_to_serving_seconds = time.monotonic() - promoted_at
    report.found = _stored(mesh, mesh.memory_target(region), report.namespace)
    return report


def _stored(mesh: Mesh, target: str, namespace: str) -> dict[str, list[str]]:
    """Every episode of ``namespace`` as the memory service at ``target`` lists it: content -> ids."""
    stored: dict[str, list[str]] = {}
    with mesh.channel(target, Role.MEMORY) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        page_token = ""
        while True:
            page = stub.ListEpisodes(
                memory_service_pb2.ListEpisodesRequest(namespace=namespace, page_size=500, page_token=page_token),
                timeout=CALL_TIMEOUT_SECONDS * 4,
            )
            for episode in page.episodes:
                stored.setdefault(episode.content, []).append(episode.episode_id)
            if not (page_token := page.next_page_token):
                return stored


def write_after_promotion(mesh: Mesh, region: str, namespace: str) -> str:
    """One write through the promoted region's memory service; its episode id."""
    with mesh.channel(mesh.memory_target(region), Role.MEMORY) as channel:
        response = memory_service_pb2_grpc.MemoryServiceStub(channel).CreateEpisode(
            memory_service_pb2.CreateEpisodeRequest(
                namespace=namespace,
                episode=episodes_pb2.Episode(content="after the failover"),
                request_id=str(uuid.uuid4()),
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return str(response.episode.episode_id)


def restore(mesh: Mesh, region: str, *, synchronous: bool) -> None:
    """Back to the mesh before the drill: the old primary again, the promoted replica discarded."""
    if mesh.links[region].is_cut:
        mesh.heal(region)
    mesh.retire(f"memory@{region}")
    mesh.drop_replica(region)
    mesh.stack.postgres.start()
    if synchronous:
        # Its configuration still waits for the discarded standby: every commit would hang.
        _set_synchronous_standby(mesh, None)
    mesh.start_in_region(region, "memory").wait_ready()
