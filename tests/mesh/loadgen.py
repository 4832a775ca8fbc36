"""A bounded write load against one memory service, and the check of what it acknowledged.

Each write carries its own `request_id` and is retried with that same id while the service is
unreachable, so a retry after a crash exercises idempotency: the write is stored once or not at all.
The run stops at ``count`` writes or ``seconds``, whichever comes first. :func:`verify` then lists
what the service stored and reports acknowledged writes against writes found, and duplicates. Every
call presents ``tls``, the operator's certificate (the memory service answers mutual TLS only).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc

from cerebro.memory.v1 import episodes_pb2, memory_service_pb2, memory_service_pb2_grpc, namespaces_pb2
from cerebro.runtime.channels import channel_credentials
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role, role_dns_name
from tests.mesh.harness import secure_channel

CALL_TIMEOUT_SECONDS = 5.0
RETRY_PAUSE_SECONDS = 0.2
LIST_PAGE_SIZE = 500
# Statuses worth retrying with the same request_id: the service or one of its dependencies is away.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.ssl_target_name_override", role_dns_name(Role.MEMORY)),
]


def _memory_channel(target: str, tls: TlsSettings) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(target, channel_credentials(tls), options=CHANNEL_OPTIONS)


@dataclass
class LoadReport:
    namespace: str
    attempted: int = 0
    # content -> episode id, for every write the service answered OK.
    acknowledged: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    found: int = 0
    duplicates: int = 0
    elapsed_seconds: float = 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> str:
        return (
            f"attempted={self.attempted} acknowledged={len(self.acknowledged)} found={self.found} "
            f"duplicates={self.duplicates} errors={dict(self.errors)} "
            f"latency_ms p50={self.percentile(0.5):.1f} p95={self.percentile(0.95):.1f} "
            f"p99={self.percentile(0.99):.1f} in {self.elapsed_seconds:.1f} s"
        )


async def _write_one(
    stub: memory_service_pb2_grpc.MemoryServiceStub, report: LoadReport, content: str, give_up_at: float
) -> None:
    request = memory_service_pb2.CreateEpisodeRequest(
        namespace=report.namespace, episode=episodes_pb2.Episode(content=content), request_id=str(uuid.uuid4())
    )
    while time.monotonic() < give_up_at:
        started = time.monotonic()
        try:
            response = await stub.CreateEpisode(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            report.errors[error.code().name] += 1
            if error.code() not in RETRYABLE:
                return
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            continue
        report.latencies_ms.append((time.monotonic() - started) * 1000)
        report.acknowledged[content] = response.episode.episode_id
        return


async def run_load(
    target: str, tls: TlsSettings, report: LoadReport, *, count: int, concurrency: int, seconds: float
) -> LoadReport:
    """Write up to ``count`` episodes into ``report.namespace`` with ``concurrency`` writers, for at most
    ``seconds`` (plus one call); ``report`` fills as it goes."""
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    give_up_at = started + seconds
    indexes = iter(range(count))

    async def writer(stub: memory_service_pb2_grpc.MemoryServiceStub) -> None:
        for index in indexes:
            if time.monotonic() >= give_up_at:
                return
            report.attempted += 1
            await _write_one(stub, report, f"load {run_id} write {index}", give_up_at)

    async with _memory_channel(target, tls) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        await asyncio.gather(*(writer(stub) for _ in range(concurrency)))
    report.elapsed_seconds = time.monotonic() - started
    return report


async def verify(target: str, tls: TlsSettings, report: LoadReport) -> LoadReport:
    """Fill ``found`` (acknowledged writes stored under their acknowledged id) and ``duplicates``."""
    stored: Counter[str] = Counter()
    ids: dict[str, str] = {}
    async with _memory_channel(target, tls) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        page_token = ""
        while True:
            page = await stub.ListEpisodes(
                memory_service_pb2.ListEpisodesRequest(
                    namespace=report.namespace, page_size=LIST_PAGE_SIZE, page_token=page_token
                ),
                timeout=CALL_TIMEOUT_SECONDS * 4,
            )
            for episode in page.episodes:
                stored[episode.content] += 1
                ids[episode.content] = episode.episode_id
            if not (page_token := page.next_page_token):
                break
    report.found = sum(1 for content, episode_id in report.acknowledged.items() if ids.get(content) == episode_id)
    report.duplicates = sum(count - 1 for count in stored.values() if count > 1)
    return report


def create_namespace(target: str, tls: TlsSettings, name: str) -> None:
    """Create the namespace a load writes into (episodes need an existing owner)."""
    with secure_channel(target, tls, Role.MEMORY) as channel:
        memory_service_pb2_grpc.MemoryServiceStub(channel).CreateNamespace(
            memory_service_pb2.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name=name)),
            timeout=CALL_TIMEOUT_SECONDS,
        )


class BackgroundLoad:
    """:func:`run_load` on its own thread, so the test can crash things while it runs."""

    def __init__(
        self, target: str, tls: TlsSettings, namespace: str, *, count: int, concurrency: int, seconds: float
    ) -> None:
        # Read by the test while the load runs, e.g. to crash something once writes are flowing.
        self.report = LoadReport(namespace)
        self._error: BaseException | None = None

        def run() -> None:
            try:
                asyncio.run(run_load(target, tls, self.report, count=count, concurrency=concurrency, seconds=seconds))
            except BaseException as error:
                self._error = error

        self._thread = threading.Thread(target=run, name=f"load-{namespace}", daemon=True)
        self._thread.start()

    def wait_for_acknowledged(self, writes: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.report.acknowledged) < writes:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(
                    f"only {len(self.report.acknowledged)} writes acknowledged: {self.report.summary()}"
                )
            time.sleep(0.05)

    def result(self, timeout: float) -> LoadReport:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the load did not finish in {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        return self.report
