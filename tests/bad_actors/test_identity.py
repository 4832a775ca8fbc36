"""Service identity under `cerebro up`: the internal services answer only mutual TLS with a certificate of
the mesh CA, and each one only the roles that call it (issue #12, finding 1 and "What to build" 2).

The report read, wrote and deleted other agents' episodes with plaintext calls to memory from another
host. Here the same calls, plaintext or with the wrong certificate, get no answer or PERMISSION_DENIED.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.client import CerebroClient, ClientSettings
from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.memory.v1 import episodes_pb2, memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.roles import Role, role_dns_name
from tests.bad_actors.conftest import Up

pytestmark = pytest.mark.e2e

CALL_SECONDS = 10


def non_loopback_addresses() -> list[str]:
    """This host's own IPv4 addresses other than loopback (where another host would reach it)."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
    found = [ipaddress.ip_interface(match).ip for match in re.findall(r"inet (\S+)", listing)]
    return [str(address) for address in found if not address.is_loopback]


def list_namespaces(channel: grpc.Channel) -> memory_service_pb2.ListNamespacesResponse:
    return memory_service_pb2_grpc.MemoryServiceStub(channel).ListNamespaces(
        memory_service_pb2.ListNamespacesRequest(), timeout=CALL_SECONDS
    )


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()  # type: ignore[attr-defined, no-any-return]


def plaintext_codes(up: Up, address: str) -> dict[str, grpc.StatusCode]:
    """The outcome of the report's calls, plaintext, to each internal service at ``address``."""
    write = memory_service_pb2.CreateEpisodeRequest(
        namespace="nexus", episode=episodes_pb2.Episode(content="written by a stranger")
    )
    calls = {
        "ListNamespaces": (Role.MEMORY, list_namespaces),
        "CreateEpisode": (
            Role.MEMORY,
            lambda channel: memory_service_pb2_grpc.MemoryServiceStub(channel).CreateEpisode(
                write, timeout=CALL_SECONDS
            ),
        ),
        "ListInstances": (
            Role.CONSENSUS,
            lambda channel: consensus_pb2_grpc.ConsensusServiceStub(channel).ListInstances(
                consensus_pb2.ListInstancesRequest(), timeout=CALL_SECONDS
            ),
        ),
        "Embed": (
            Role.EMBEDDER,
            lambda channel: embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(
                embedder_pb2.EmbedRequest(text="free compute"), timeout=CALL_SECONDS
            ),
        ),
    }
    codes = {}
    for name, (service, call) in calls.items():
        with up.channel(service, None, host=address) as channel:
            codes[name] = code_of(lambda: call(channel))  # noqa: B023  (called at once, in this iteration)
    return codes


def test_plaintext_calls_to_internal_services_get_no_answer_from_any_address(up: Up) -> None:
    """ListNamespaces, CreateEpisode in another agent's namespace, ListInstances, Embed: as the report made them."""
    for address in ["127.0.0.1", *non_loopback_addresses()]:
        codes = plaintext_codes(up, address)
        assert set(codes.values()) == {grpc.StatusCode.UNAVAILABLE}, (address, codes)

    # Nothing was written: the operator (with its certificate) finds no stranger's episode.
    with up.channel(Role.MEMORY, Role.OPERATOR) as memory:
        episodes = memory_service_pb2_grpc.MemoryServiceStub(memory).ListEpisodes(
            memory_service_pb2.ListEpisodesRequest(namespace="nexus", page_size=100), timeout=CALL_SECONDS
        )
    assert "written by a stranger" not in [episode.content for episode in episodes.episodes]


def test_a_certificate_of_another_ca_gets_no_answer(up: Up, tmp_path: Path) -> None:
    # A look-alike CA issuing the operator role: the name is right, the signature is not the mesh's.
    rogue = MeshAuthority.load_or_create(tmp_path / "rogue", "Cerebro mesh CA").issue(Role.OPERATOR)
    credentials = grpc.ssl_channel_credentials(
        (up.data_dir / "tls" / "ca.crt").read_bytes(), rogue.key_file.read_bytes(), rogue.cert_file.read_bytes()
    )
    options = [("grpc.ssl_target_name_override", role_dns_name(Role.MEMORY))]
    with grpc.secure_channel(f"127.0.0.1:{up.port('memory')}", credentials, options=options) as channel:
        assert code_of(lambda: list_namespaces(channel)) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("service", "caller", "allowed"),
    [
        (Role.MEMORY, Role.OPERATOR, True),
        (Role.MEMORY, Role.GATEWAY, True),
        (Role.MEMORY, Role.EMBEDDER, False),
        (Role.MEMORY, Role.MEMORY, False),
        (Role.MEMORY, Role.EMBEDDINGS_WORKER, False),
        (Role.EMBEDDER, Role.MEMORY, True),
        (Role.EMBEDDER, Role.EMBEDDINGS_WORKER, True),
        (Role.EMBEDDER, Role.GATEWAY, False),
        (Role.EMBEDDER, Role.RECONCILIATION_WORKER, False),
        (Role.CONSENSUS, Role.RECONCILIATION_WORKER, True),
    ],
)
def test_each_service_serves_only_the_roles_that_call_it(up: Up, service: Role, caller: Role, allowed: bool) -> None:
    calls = {
        Role.MEMORY: lambda channel: list_namespaces(channel),
        Role.EMBEDDER: lambda channel: embedder_pb2_grpc.EmbedderServiceStub(channel).GetModelInfo(
            embedder_pb2.GetModelInfoRequest(), timeout=CALL_SECONDS
        ),
        Role.CONSENSUS: lambda channel: consensus_pb2_grpc.ConsensusServiceStub(channel).ListInstances(
            consensus_pb2.ListInstancesRequest(), timeout=CALL_SECONDS
        ),
    }
    with up.channel(service, caller) as channel:
        if allowed:
            calls[service](channel)
        else:
            with pytest.raises(grpc.RpcError) as refused:
                calls[service](channel)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
            assert caller.value in (refused.value.details() or "")  # type: ignore[attr-defined]
        # Health answers any certificate of the mesh (the probes of every deployment use it).
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_SECONDS)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_a_server_must_prove_its_role_to_its_callers(up: Up) -> None:
    """A client that expects the memory service refuses the embedder's port, although its certificate is the mesh's."""
    tls = up.certificate(Role.OPERATOR)
    assert tls.ca_file is not None
    credentials = grpc.ssl_channel_credentials(
        tls.ca_file.read_bytes(), tls.key_file.read_bytes(), tls.cert_file.read_bytes()
    )
    options = [("grpc.ssl_target_name_override", role_dns_name(Role.MEMORY))]
    with grpc.secure_channel(f"127.0.0.1:{up.port('embedder')}", credentials, options=options) as channel:
        assert code_of(lambda: list_namespaces(channel)) == grpc.StatusCode.UNAVAILABLE


def test_agents_still_reach_the_gateway_plaintext_on_loopback(up: Up) -> None:
    """The agent-facing port is the documented exception: plaintext on loopback, with an API key."""
    token = up.issue_key("identity-agent", "IDENTITY-AGENT")
    with CerebroClient(ClientSettings(target=up.gateway_target, api_key=token)) as client:
        stored = client.remember("the gateway still serves agents", timeout=CALL_SECONDS).episode
        assert stored.namespace == "identity-agent"
