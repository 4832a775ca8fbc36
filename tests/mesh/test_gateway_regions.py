"""(a) A gateway per region: agents remember and recall through their local gateway with their own key,
see only their own namespace, are refused another's, and are served by their own region's memory replica.

The gateways run inside the region namespaces like memory does; discovery should prefer the memory
replicas of their own CEREBRO_REGION. Which replica served is read from every memory replica's own metrics
(``grpc_server_handled_total``): only the local one may count the calls. The gateways are started for
this module only and retired afterwards, so the other scenarios see the mesh they always saw.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cerebro.client import errors
from cerebro.client.settings import ClientSettings
from cerebro.client.sync_client import CerebroClient
from services.gateway.store import keys
from tests.mesh.conftest import REGIONS
from tests.mesh.harness import Mesh

pytestmark = pytest.mark.e2e

T = TypeVar("T")

# One agent per region, each with its own key and namespace.
AGENTS = {"eu": "nexus-eu", "us": "aria-us", "ap": "atlas-ap"}
EPISODES = 3
CALL_TIMEOUT_SECONDS = 10.0
MEMORY_SERVICE = "cerebro.memory.v1.MemoryService"
# Downstream calls bounded well inside the test's own call timeout.
GATEWAY_ENVIRON = {"CEREBRO_GATEWAY_DOWNSTREAM_TIMEOUT_SECONDS": "5"}


@pytest.fixture(scope="module")
def gateways(mesh: Mesh) -> Iterator[dict[str, str]]:
    """A gateway in every region, by region: its target as seen from the test."""
    started = time.monotonic()
    labels = []
    try:
        for region in REGIONS:
            labels.append(mesh.start_in_region(region, "gateway", GATEWAY_ENVIRON).label)
        for label in labels:
            mesh.processes[label].wait_ready(timeout=60)
        print(f"\n[mesh a] 3 gateways SERVING {time.monotonic() - started:.1f} s after start", end="")
        yield {region: mesh.service_target(region, "gateway") for region in REGIONS}
    finally:
        for label in labels:
            mesh.retire(label)


def _issue_keys(database_url: str) -> dict[str, str]:
    async def issue() -> dict[str, str]:
        connection = await asyncpg.connect(database_url)
        try:
            return {
                region: (await keys.issue_key(connection, namespace, label=f"mesh agent in {region}")).token
                for region, namespace in AGENTS.items()
            }
        finally:
            await connection.close()

    return asyncio.run(issue())


def _memory_calls(mesh: Mesh, region: str) -> int:
    """Calls the memory replica of ``region`` completed OK, by its own metrics."""
    with urllib.request.urlopen(mesh.metrics_url(region, "memory"), timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "grpc_server_handled_total"
            and sample.labels.get("grpc_service") == MEMORY_SERVICE
            and sample.labels.get("grpc_code") == "OK"
        )
    )


def _served_by(mesh: Mesh, action: Callable[[], T]) -> tuple[T, dict[str, int]]:
    """``action``'s result and the calls each region's memory replica served meanwhile."""
    before = {region: _memory_calls(mesh, region) for region in REGIONS}
    result = action()
    return result, {region: _memory_calls(mesh, region) - before[region] for region in REGIONS}


def _assert_local(region: str, served: dict[str, int], at_least: int, what: str) -> None:
    assert served[region] >= at_least, f"{what} in {region} did not reach memory@{region}: {served}"
    remote = {other: count for other, count in served.items() if other != region and count}
    assert remote == {}, f"{what} in {region} was served by another region's memory: {served}"


def test_agents_use_their_local_gateway_and_see_only_their_namespace(mesh: Mesh, gateways: dict[str, str]) -> None:
    tokens = _issue_keys(mesh.stack.database_url)
    clients = {
        region: CerebroClient(ClientSettings(target=gateways[region], api_key=tokens[region])) for region in REGIONS
    }
    run = uuid.uuid4().hex[:8]
    contents = {
        region: {f"{namespace} migration plan, step {step} ({run})" for step in range(EPISODES)}
        for region, namespace in AGENTS.items()
    }
    remember_ms: list[float] = []
    recall_ms: list[float] = []
    served_figures: dict[str, dict[str, int]] = {}
    try:
        # Remember: each agent through its own region's gateway; only that region's replica stores.
        for region, client in clients.items():

            def remember(client: CerebroClient = client, region: str = region) -> list[str]:
                namespaces = []
                for content in sorted(contents[region]):
                    started = time.monotonic()
                    stored = client.remember(content, tags=["mesh"], timeout=CALL_TIMEOUT_SECONDS).episode
                    remember_ms.append((time.monotonic() - started) * 1000)
                    namespaces.append(stored.namespace)
                return namespaces

            namespaces, served = _served_by(mesh, remember)
            assert namespaces == [AGENTS[region]] * EPISODES
            _assert_local(region, served, EPISODES, "remember")
            served_figures[f"remember@{region}"] = served

        # Recall and list, after every region wrote: each agent gets exactly its own episodes back.
        for region, client in clients.items():

            def recall(client: CerebroClient = client) -> tuple[object, object]:
                started = time.monotonic()
                recalled = client.recall("migration plan", top_k=50, timeout=CALL_TIMEOUT_SECONDS)
                recall_ms.append((time.monotonic() - started) * 1000)
                return recalled, client.recent_episodes(page_size=100, timeout=CALL_TIMEOUT_SECONDS)

            (recalled, recent), served = _served_by(mesh, recall)
            _assert_local(region, served, 2, "recall")
            served_figures[f"recall@{region}"] = served
            assert recalled.namespace == AGENTS[region]
            assert {hit.episode.namespace for hit in recalled.hits} == {AGENTS[region]}
            assert {hit.episode.content for hit in recalled.hits} == contents[region]
            assert {episode.namespace for episode in recent.episodes} == {AGENTS[region]}
            assert {episode.content for episode in recent.episodes} == contents[region]

        # Another agent's namespace, named explicitly and without a grant: refused, in every region.
        denied = 0
        for region, client in clients.items():
            for other, namespace in AGENTS.items():
                if other == region:
                    continue
                for attempt in (
                    lambda client=client, namespace=namespace: client.recall(
                        "migration plan", namespace=namespace, timeout=CALL_TIMEOUT_SECONDS
                    ),
                    lambda client=client, namespace=namespace: client.recent_episodes(
                        namespace=namespace, timeout=CALL_TIMEOUT_SECONDS
                    ),
                ):
                    with pytest.raises(errors.PermissionDenied):
                        attempt()
                    denied += 1
    finally:
        for client in clients.values():
            client.close()

    remember_ms.sort()
    recall_ms.sort()
    print(
        f"\n[mesh a] {len(remember_ms)} remembers p50 {remember_ms[len(remember_ms) // 2]:.0f} ms "
        f"max {remember_ms[-1]:.0f} ms, {len(recall_ms)} recalls p50 {recall_ms[len(recall_ms) // 2]:.0f} ms "
        f"max {recall_ms[-1]:.0f} ms; memory calls served per region {served_figures}; "
        f"{denied} cross-namespace reads PERMISSION_DENIED"
    )
