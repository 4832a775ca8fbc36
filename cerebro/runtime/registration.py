"""Self-registration of a Cerebro process in the instance network of the consensus service.

:func:`keep_registered` runs as a background task of every service: it registers the process
(``CEREBRO_INSTANCE_NAME``, ``CEREBRO_REGION``), heartbeats within the lease the service grants,
registers again whenever the service has forgotten it, and deregisters when cancelled at shutdown.
While the consensus service is unreachable it keeps retrying in the background; it never blocks or
fails the process it runs in.

The process's Ed25519 identity key is kept in ``<data_dir>/identity/``: re-registering a name is
only accepted with the key it was first registered with, so the key must survive restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import deregister_request, heartbeat_request, register_request
from cerebro.consensus.keys import load_or_create_identity_key
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.roles import Role

log = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS = 5.0
DEREGISTER_TIMEOUT_SECONDS = 3.0
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
# Heartbeat this many times per lease, so one lost heartbeat never costs the lease.
HEARTBEATS_PER_LEASE = 3

# Answers after which the service no longer knows this registration: register again.
_REGISTER_AGAIN = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}


def identity_key_path(data_dir: Path, instance_name: str) -> Path:
    """Where the key of ``instance_name`` lives: a readable file name, and a hash against collisions."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", instance_name)[:80]
    digest = hashlib.sha256(instance_name.encode("utf-8")).hexdigest()[:12]
    return data_dir / "identity" / f"{readable}-{digest}.pem"


async def keep_registered(
    settings: ServiceSettings,
    capabilities: Sequence[str],
    endpoint: str,
    *,
    instance_type: pb.InstanceType.ValueType = pb.INSTANCE_TYPE_WORKER,
    voting: bool = False,
) -> None:
    """Keep this process registered and its lease alive until cancelled; then deregister.

    ``endpoint`` is where the process serves (e.g. ``grpc://10.0.0.5:50052``). Service replicas
    register as non-voting workers by default.
    """
    key_path = identity_key_path(settings.data_dir, settings.instance_name)
    try:
        key = load_or_create_identity_key(key_path)
    except (OSError, ValueError) as exc:
        # The service itself still works; it just cannot join the instance network.
        log.error("cannot load or create the identity key %s (%s); this process will not register", key_path, exc)
        return
    # One attempt per call: the loop below does its own retrying, with its own backoff.
    channel = open_channel(
        settings.target("consensus"),
        settings.tls,
        server_role=Role.CONSENSUS,
        timeout_seconds=CALL_TIMEOUT_SECONDS,
        max_attempts=1,
    )
    membership = _Membership(
        consensus_pb2_grpc.ConsensusServiceStub(channel),
        key,
        register_request_for=lambda: register_request(
            key,
            instance_name=settings.instance_name,
            instance_type=instance_type,
            region=settings.region,
            capabilities=capabilities,
            endpoints=[endpoint],
            voting=voting,
        ),
    )
    failing = False
    delay = RETRY_MIN_SECONDS
    try:
        while True:
            try:
                lease_ttl = await membership.renew()
            except grpc.aio.AioRpcError as error:
                hint = ""
                if error.code() == grpc.StatusCode.ALREADY_EXISTS:
                    hint = f" (another process uses this CEREBRO_INSTANCE_NAME, or {key_path} was replaced)"
                # Warn when the trouble starts, not at every retry.
                level = logging.DEBUG if failing else logging.WARNING
                log.log(level, "instance registration: %s: %s%s; retrying", error.code().name, error.details(), hint)
                failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            failing = False
            delay = RETRY_MIN_SECONDS
            await asyncio.sleep(lease_ttl / HEARTBEATS_PER_LEASE)
    except asyncio.CancelledError:
        await membership.leave()
        raise
    finally:
        await channel.close(grace=None)


class _Membership:
    """This process's registration: registers when it has none, heartbeats when it has one."""

    def __init__(
        self,
        stub: consensus_pb2_grpc.ConsensusServiceAsyncStub,
        key: Ed25519PrivateKey,
        register_request_for: Callable[[], pb.RegisterInstanceRequest],
    ) -> None:
        self._stub = stub
        self._key = key
        self._register_request_for = register_request_for
        self._instance_id: str | None = None

    async def renew(self) -> float:
        """Register or heartbeat; returns the lease length in seconds."""
        try:
            if self._instance_id is None:
                registered = await self._stub.RegisterInstance(self._register_request_for())
                self._instance_id = registered.instance.instance_id
                log.info(
                    "registered in the instance network as %s (%s)",
                    registered.instance.instance_name,
                    self._instance_id,
                )
                return registered.lease_ttl_seconds
            renewed = await self._stub.Heartbeat(heartbeat_request(self._key, self._instance_id))
            return renewed.lease_ttl_seconds
        except grpc.aio.AioRpcError as error:
            if error.code() in _REGISTER_AGAIN:
                self._instance_id = None
            raise

    async def leave(self) -> None:
        """Deregister, if registered: the departure shows at once instead of when the lease runs out."""
        if self._instance_id is None:
            return
        try:
            await self._stub.DeregisterInstance(
                deregister_request(self._key, self._instance_id), timeout=DEREGISTER_TIMEOUT_SECONDS
            )
            log.info("deregistered %s from the instance network", self._instance_id)
        except grpc.aio.AioRpcError as error:
            log.warning("could not deregister %s: %s", self._instance_id, error.code().name)
