"""`cerebro up` answers nobody but this host: every port listens on loopback only.

An outsider is simulated by calling the machine on its own non-loopback address (the route any other
host would take): the kernel delivers such a connection to a server listening on 0.0.0.0, but not
to one listening on 127.0.0.1. A control server on 0.0.0.0 shows the address does reach this host.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from collections.abc import Iterator

import grpc
import pytest

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from tests.bad_actors.conftest import UpMesh

pytestmark = pytest.mark.e2e

PROCESSES_WITH_GRPC = ("gateway", "memory", "embedder", "consensus")
PROCESSES = (*PROCESSES_WITH_GRPC, "embeddings-worker", "reconciliation-worker")


def non_loopback_address() -> str:
    """An IPv4 address of one of this machine's interfaces that is not loopback."""
    output = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    for line in output.splitlines():
        address = line.split()[3].split("/")[0]
        if not ipaddress.ip_address(address).is_loopback:
            return address
    pytest.skip("this machine has no non-loopback IPv4 address to call itself on")


@pytest.fixture(scope="module")
def outside_address() -> Iterator[str]:
    address = non_loopback_address()
    # The address reaches this host: a server on every address answers there.
    with (
        socket.create_server(("0.0.0.0", 0)) as control,
        socket.create_connection((address, control.getsockname()[1]), timeout=5),
    ):
        pass
    yield address


def refused(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def test_no_port_of_cerebro_up_accepts_a_connection_from_outside(up_mesh: UpMesh, outside_address: str) -> None:
    ports = {f"{p} gRPC": up_mesh.grpc_port(p) for p in PROCESSES_WITH_GRPC}
    ports |= {f"{p} metrics": up_mesh.metrics_port(p) for p in PROCESSES}
    ports["gateway HTTP/JSON"] = up_mesh.http_port
    reachable = [name for name, port in ports.items() if not refused(outside_address, port)]
    assert reachable == []
    # ...while every one of them answers on loopback.
    assert [name for name, port in ports.items() if refused("127.0.0.1", port)] == []


@pytest.mark.parametrize("process", ["memory", "consensus"])
async def test_a_plaintext_call_from_outside_gets_no_answer(
    up_mesh: UpMesh, outside_address: str, process: str
) -> None:
    """The calls of the report (ListNamespaces on memory, ListInstances on consensus): answered on
    loopback, UNAVAILABLE (nothing listening) on the machine's own outside address."""

    async def call(host: str) -> object:
        async with up_mesh.channel(process, host) as channel:
            if process == "memory":
                memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
                return await memory.ListNamespaces(memory_service_pb2.ListNamespacesRequest(), timeout=5)
            consensus = consensus_pb2_grpc.ConsensusServiceStub(channel)
            return await consensus.ListInstances(consensus_pb2.ListInstancesRequest(), timeout=5)

    assert await call("127.0.0.1") is not None
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(outside_address)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
