"""Three regions on one machine: a namespace per region around a core in the root namespace.

    core (root namespace, 127.0.0.1)       PostgreSQL, Redis (embedded), consensus, the shared embedder
        |  link proxies on 10.77.n.1        latency, cut, heal (application level: no netem here)
    region namespace (10.77.n.2)            memory (+ workers, gateway) registering with CEREBRO_REGION

Every connection a region opens to the core passes its link, so cutting the link partitions the
region. The test reaches a region's services directly on their namespace address (that is the
observer, not a path the mesh uses). One embedder is shared by all regions through their links: it
takes ~8 s and most of a core to load, and the scenarios exercise memory and consensus, not models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc

from cerebro.cli.up import EMBEDDED_DATABASE_ROLES
from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.embedded import EmbeddedStack
from cerebro.runtime.config import DEFAULT_PORTS
from tests.mesh.link import LinkLoop, RegionLink
from tests.mesh.netns import Namespace
from tests.mesh.processes import MeshProcess, alive_pids, clean_environ
from tests.support import free_port

LOOPBACK = "127.0.0.1"
CORE_REGION = "core"


@dataclass(frozen=True)
class Leases:
    ttl_seconds: float = 2.0
    offline_after_seconds: float = 4.0


def _env_key(process: str) -> str:
    return process.upper().replace("-", "_")


def _with_host(url: str, host: str) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}:{parts.port}"))


def _write_secret(path: Path, value: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(value)
    path.chmod(0o600)
    return str(path)


class Mesh:
    """The core, one link and namespace per region, and every process started in them."""

    def __init__(self, data_dir: Path, stack: EmbeddedStack, namespaces: dict[str, Namespace], leases: Leases) -> None:
        self.data_dir = data_dir
        self.stack = stack
        self.namespaces = namespaces
        self.leases = leases
        self.core_ports = {
            "postgres": stack.postgres.port,
            "redis": stack.redis.port,
            "consensus": free_port(),
            "embedder": free_port(),
        }
        self.loop = LinkLoop()
        self.links = {
            region: RegionLink(namespace.link_address, LOOPBACK, self.core_ports)
            for region, namespace in namespaces.items()
        }
        self.processes: dict[str, MeshProcess] = {}
        # Processes a scenario started for itself and stopped again; still checked for orphans at close.
        self.retired: list[MeshProcess] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start_links(self) -> None:
        for link in self.links.values():
            self.loop.run(link.start())

    def close(self) -> list[int]:
        """Stop every process and link; returns the pids that survived (there should be none)."""
        for process in reversed(list(self.processes.values())):
            process.stop()
        for link in self.links.values():
            self.loop.run(link.stop())
        self.loop.close()
        every = [*self.retired, *self.processes.values()]
        return alive_pids([pid for process in every for pid in process.pids])

    # -- processes ---------------------------------------------------------------------------

    def _common_environ(self, region: str, process: str, database_url: str, redis_url: str) -> dict[str, str]:
        secrets = self.data_dir / "secrets" / region
        return clean_environ(
            {
                "CEREBRO_DATA_DIR": str(self.data_dir / "regions" / region),
                "CEREBRO_REGION": region,
                "CEREBRO_INSTANCE_NAME": f"{process}@{region}",
                "CEREBRO_DATABASE_URL_FILE": _write_secret(secrets / "database_url", database_url),
                "CEREBRO_REDIS_URL_FILE": _write_secret(secrets / "redis_url", redis_url),
                "CEREBRO_SHUTDOWN_GRACE_SECONDS": "2",
                "CEREBRO_LOG_LEVEL": "WARNING",
                **EMBEDDED_DATABASE_ROLES,
            }
        )

    def start_core(self, process: str, extra: dict[str, str] | None = None) -> MeshProcess:
        """Start ``process`` (consensus or embedder) in the root namespace on 127.0.0.1."""
        key = _env_key(process)
        port = self.core_ports[process]
        environ = self._common_environ(CORE_REGION, process, self.stack.database_url, self.stack.redis_url)
        environ.update(
            {
                "CEREBRO_BIND_HOST": LOOPBACK,
                f"CEREBRO_{key}_PORT": str(port),
                f"CEREBRO_{key}_METRICS_PORT": str(free_port()),
                "CEREBRO_CONSENSUS_TARGET": f"{LOOPBACK}:{self.core_ports['consensus']}",
                "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": str(self.leases.ttl_seconds),
                "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": str(self.leases.offline_after_seconds),
                **(extra or {}),
            }
        )
        return self._start(
            MeshProcess(
                label=f"{process}@{CORE_REGION}",
                process=process,
                environ=environ,
                log_file=self.data_dir / "logs" / f"{process}@{CORE_REGION}.log",
                ready_target=f"{LOOPBACK}:{port}",
            )
        )

    def start_in_region(self, region: str, process: str, extra: dict[str, str] | None = None) -> MeshProcess:
        """Start ``process`` inside ``region``'s namespace, on its default ports, reaching the core by its link."""
        namespace, link = self.namespaces[region], self.links[region]
        grpc_port, metrics_port = DEFAULT_PORTS[process]
        environ = self._common_environ(
            region,
            process,
            _with_host(self.stack.database_url, link.address),
            _with_host(self.stack.redis_url, link.address),
        )
        environ.update(
            {
                "CEREBRO_BIND_HOST": "0.0.0.0",
                "CEREBRO_ADVERTISE_HOST": namespace.address,
                "CEREBRO_CONSENSUS_TARGET": link.target("consensus"),
                "CEREBRO_EMBEDDER_TARGET": link.target("embedder"),
                "CEREBRO_MEMORY_TARGET": f"{LOOPBACK}:{DEFAULT_PORTS['memory'][0]}",
                **(extra or {}),
            }
        )
        label = f"{process}@{region}"
        return self._start(
            MeshProcess(
                label=label,
                process=process,
                environ=environ,
                log_file=self.data_dir / "logs" / f"{label}.log",
                prefix=namespace.command(),
                ready_target=None if grpc_port is None else f"{namespace.address}:{grpc_port}",
                ready_url=f"http://{namespace.address}:{metrics_port}/metrics",
            )
        )

    def _start(self, process: MeshProcess) -> MeshProcess:
        self.processes[process.label] = process
        process.start()
        return process

    def retire(self, label: str) -> None:
        """Stop ``label`` for good: later scenarios no longer see it among the mesh's processes."""
        process = self.processes.pop(label)
        process.stop()
        self.retired.append(process)

    def memory_target(self, region: str) -> str:
        return f"{self.namespaces[region].address}:{DEFAULT_PORTS['memory'][0]}"

    def service_target(self, region: str, process: str) -> str:
        """``host:port`` of ``process``'s gRPC server in ``region`` (its namespace address)."""
        return f"{self.namespaces[region].address}:{DEFAULT_PORTS[process][0]}"

    def metrics_url(self, region: str, process: str) -> str:
        return f"http://{self.namespaces[region].address}:{DEFAULT_PORTS[process][1]}/metrics"

    # -- the network -------------------------------------------------------------------------

    def cut(self, *regions: str) -> None:
        for region in regions:
            self.loop.run(self.links[region].cut())

    def heal(self, *regions: str) -> None:
        for region in regions:
            self.loop.run(self.links[region].heal())

    def set_latency(self, seconds: float) -> None:
        for link in self.links.values():
            link.set_latency(seconds)

    # -- the instance network, as the consensus service reports it ---------------------------

    def consensus_target(self) -> str:
        return f"{LOOPBACK}:{self.core_ports['consensus']}"

    def instance_statuses(self) -> dict[str, int]:
        """Status of every registered instance, by instance name."""
        with grpc.insecure_channel(self.consensus_target()) as channel:
            response = consensus_pb2_grpc.ConsensusServiceStub(channel).ListInstances(
                consensus_pb2.ListInstancesRequest(page_size=1000), timeout=10
            )
        return {instance.instance_name: instance.status for instance in response.instances}

    def wait_for_status(self, instance_name: str, status: int, timeout: float) -> float:
        """Wait until ``instance_name`` has ``status``; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.instance_statuses().get(instance_name) == status:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(
            f"{instance_name} never became {consensus_pb2.InstanceStatus.Name(status)} in {timeout:.0f} s: "
            f"{ {name: consensus_pb2.InstanceStatus.Name(s) for name, s in self.instance_statuses().items()} }"
        )
