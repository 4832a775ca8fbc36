"""Three regions on one machine: a namespace per region around a core in the root namespace.

    core (root namespace, 127.0.0.1)       PostgreSQL, Redis (embedded), consensus, the shared embedder
        |  link proxies on 10.77.n.1        latency, cut, heal (application level: no netem here)
    region namespace (10.77.n.2)            memory (+ workers, gateway) registering with CEREBRO_REGION

Every connection a region opens to the core passes its link, so cutting the link partitions the
region. The test reaches a region's services directly on their namespace address (that is the
observer, not a path the mesh uses). One embedder is shared by all regions through their links: it
takes ~8 s and most of a core to load, and the scenarios exercise memory and consensus, not models.

The mesh runs as deployed: every process holds a certificate of a mesh CA with its role (mutual TLS
between all of them; the gateways serve their agents plaintext), and the test observes with the
operator's. The core's processes advertise the host name ``cerebro-core``, which each region's hosts
file resolves to its own link, so what discovery finds in the registry is reachable from every region.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import Enrollment, public_key_bytes
from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.embedded import EmbeddedStack
from cerebro.runtime.config import DEFAULT_PORTS, TlsSettings
from cerebro.runtime.roles import Role, role_dns_name
from services.cli.up import EMBEDDED_DATABASE_ROLES
from services.consensus.store import enrollment
from tests.mesh.link import LinkLoop, RegionLink
from tests.mesh.netns import Namespace, create_namespaces, delete_namespaces, remove_leftovers
from tests.mesh.processes import MeshProcess, alive_pids, clean_environ
from tests.mesh.replica import StreamingReplica, with_host
from tests.mesh_identity import MeshCertificates
from tests.support import free_port

LOOPBACK = "127.0.0.1"
CORE_REGION = "core"
# The name the core's processes advertise in the registry; each region resolves it to its own link.
CORE_HOST = "cerebro-core"
# Where the memory service reads its optional read-only database URL from (a replica near it).


@dataclass(frozen=True)
class Leases:
    ttl_seconds: float = 2.0
    offline_after_seconds: float = 4.0


def _env_key(process: str) -> str:
    return process.upper().replace("-", "_")


def secure_channel(
    target: str, tls: TlsSettings, server_role: Role, options: list[tuple[str, object]] | None = None
) -> grpc.Channel:
    """A blocking channel to a ``server_role`` server at ``target``, presenting ``tls``."""
    assert tls.ca_file is not None
    credentials = grpc.ssl_channel_credentials(
        tls.ca_file.read_bytes(), tls.key_file.read_bytes(), tls.cert_file.read_bytes()
    )
    return grpc.secure_channel(
        target, credentials, options=[*(options or []), ("grpc.ssl_target_name_override", role_dns_name(server_role))]
    )


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
        self.certificates = MeshCertificates(data_dir / "tls")
        for namespace in namespaces.values():
            namespace.write_hosts({CORE_HOST: namespace.link_address})
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
        self.replicas: dict[str, StreamingReplica] = {}
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
        for replica in self.replicas.values():
            replica.stop()
        for link in self.links.values():
            self.loop.run(link.stop())
        self.loop.close()
        every = [*self.retired, *self.processes.values()]
        return alive_pids([pid for process in every for pid in process.pids])

    # -- processes ---------------------------------------------------------------------------

    @property
    def operator_tls(self) -> TlsSettings:
        """The certificate the test observes the mesh with."""
        return self.certificates.tls(Role.OPERATOR)

    def channel(self, target: str, service: Role) -> grpc.Channel:
        """A blocking channel to ``service`` at ``target``, as the operator."""
        return secure_channel(target, self.operator_tls, service)

    def enroll(self, name: str, key: Ed25519PrivateKey, *, voting: bool = True) -> None:
        """What `cerebro instances enroll` does, as the operator."""

        async def enroll() -> None:
            connection = await asyncpg.connect(self.stack.database_url)
            try:
                await enrollment.enroll(connection, name, public_key_bytes(key), voting=voting, by="mesh-operator")
            finally:
                await connection.close()

        asyncio.run(enroll())

    def enrollments(self) -> list[Enrollment]:
        async def listed() -> list[Enrollment]:
            connection = await asyncpg.connect(self.stack.database_url)
            try:
                records = await enrollment.list_enrollments(connection, include_revoked=True)
            finally:
                await connection.close()
            return [record.enrollment() for record in records]

        return asyncio.run(listed())

    def _common_environ(self, region: str, process: str, database_url: str, redis_url: str) -> dict[str, str]:
        secrets = self.data_dir / "secrets" / region
        return clean_environ(
            {
                **self.certificates.environ(Role(process)),
                # Agents reach their region's gateway plaintext; the gateway calls the mesh with its certificate.
                "CEREBRO_GATEWAY_SERVE_TLS": "false",
                # getaddrinfo, which reads the region's hosts file (cerebro-core).
                "GRPC_DNS_RESOLVER": "native",
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
                "CEREBRO_ADVERTISE_HOST": CORE_HOST,
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
                ready_tls=self.operator_tls,
            )
        )

    def start_in_region(
        self,
        region: str,
        process: str,
        extra: dict[str, str] | None = None,
        *,
        label: str | None = None,
        database_url: str | None = None,
        read_database_url: str | None = None,
    ) -> MeshProcess:
        """Start ``process`` inside ``region``'s namespace, on its default ports (unless ``extra`` says other
        ones), reaching the core by its link; ``label`` names it when a region runs two of a kind;
        ``database_url``, as seen from the region, replaces the primary's (a promoted replica);
        ``read_database_url`` is the read URL of memory or consensus (the region's replica)."""
        namespace, link = self.namespaces[region], self.links[region]
        key = _env_key(process)
        defaults = DEFAULT_PORTS[process]
        grpc_port = None if defaults[0] is None else int((extra or {}).get(f"CEREBRO_{key}_PORT", defaults[0]))
        metrics_port = int((extra or {}).get(f"CEREBRO_{key}_METRICS_PORT", defaults[1]))
        environ = self._common_environ(
            region,
            process,
            database_url or with_host(self.stack.database_url, link.address),
            with_host(self.stack.redis_url, link.address),
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
        if read_database_url is not None:
            secret = self.data_dir / "secrets" / region / f"{process}_read_database_url"
            environ[f"CEREBRO_{key}_READ_DATABASE_URL_FILE"] = _write_secret(secret, read_database_url)
        label = label or f"{process}@{region}"
        environ["CEREBRO_INSTANCE_NAME"] = (extra or {}).get("CEREBRO_INSTANCE_NAME", label)
        return self._start(
            MeshProcess(
                label=label,
                process=process,
                environ=environ,
                log_file=self.data_dir / "logs" / f"{label}.log",
                prefix=namespace.command(),
                ready_target=None if grpc_port is None else f"{namespace.address}:{grpc_port}",
                ready_url=f"http://{namespace.address}:{metrics_port}/metrics",
                # Gateways serve their agents plaintext.
                ready_tls=None if process == "gateway" else self.operator_tls,
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

    def set_latency(self, one_way_seconds: float, *regions: str, back_seconds: float | None = None) -> None:
        """``regions`` (every one if none named) at ``one_way_seconds`` from the core, towards it, and
        ``back_seconds`` from it (the same unless given); 0 puts a region beside the core."""
        for region in regions or self.links:
            self.links[region].set_latency(one_way_seconds, back_seconds)

    # -- replicas ----------------------------------------------------------------------------

    def start_replica(self, region: str) -> StreamingReplica:
        """A streaming replica of the core's PostgreSQL in ``region``, following it through the region's link."""
        replica = StreamingReplica(
            region=region,
            namespace=self.namespaces[region],
            primary_url=self.stack.database_url,
            primary_host=self.links[region].address,
            directory=self.data_dir / "replicas" / region,
        )
        replica.create()
        self.replicas[region] = replica
        replica.start()
        return replica

    def drop_replica(self, region: str) -> None:
        """Stop ``region``'s replica, if it has one (a drill that failed early may not)."""
        replica = self.replicas.pop(region, None)
        if replica is not None:
            replica.stop()

    # -- the instance network, as the consensus service reports it ---------------------------

    def consensus_target(self) -> str:
        return f"{LOOPBACK}:{self.core_ports['consensus']}"

    def instance_statuses(self) -> dict[str, int]:
        """Status of every registered instance, by instance name."""
        with self.channel(self.consensus_target(), Role.CONSENSUS) as channel:
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


@contextlib.contextmanager
def open_mesh(regions: list[str], leases: Leases) -> Iterator[Mesh]:
    """The core's PostgreSQL and Redis, a namespace and a link per region; no Cerebro process yet.

    Everything is torn down on leaving, which fails if any process the mesh started outlived it.
    The caller checks first that namespaces can be made (netns.check_available).
    """
    remove_leftovers()
    # Not pytest's tmp_path: PostgreSQL runs as another account and must reach its data (see tests/conftest.py).
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-mesh-"))
    # Fixed ports, so a restarted PostgreSQL or Redis is where the links already point.
    stack = EmbeddedStack(data_dir / "stack", postgres_port=free_port(), redis_port=free_port())
    stack.start()
    try:
        namespaces = create_namespaces(regions)
    except BaseException:
        stack.stop()
        raise
    mesh = Mesh(data_dir, stack, namespaces, leases)
    survivors: list[int] = []
    try:
        mesh.start_links()
        yield mesh
    finally:
        survivors = mesh.close()
        delete_namespaces(list(namespaces.values()))
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert survivors == [], f"processes outlived the mesh: {survivors}"
