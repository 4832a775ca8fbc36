"""Gateway settings (CEREBRO_GATEWAY_*), read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cerebro.forwarded_client import forwarding_proof
from cerebro.runtime.config import Env


@dataclass(frozen=True)
class GatewaySettings:
    # Default token bucket of every credential (a key may carry its own).
    rate_per_second: float
    burst: int
    # How long an authenticated credential or a grant list is trusted without asking PostgreSQL
    # again; revocations also arrive at once by notification, this bounds a missed one.
    auth_cache_seconds: float
    # How long a key id PostgreSQL did not know is answered "unknown" without asking again.
    unknown_key_cache_seconds: float
    # Authentication failures one client address may make: a burst, refilled at a rate per second.
    auth_failure_burst: int
    auth_failure_rate_per_second: float
    # The secret with which a face in front of this gateway (`cerebro mcp --transport http`) names its own
    # clients' addresses, so their failures are counted per client (cerebro/forwarded_client.py); None:
    # only the gateway's own HTTP face may.
    forwarding_proof: str | None
    # Streams (WatchDecisions, SubscribeLearnings, WatchSharedEmotionalState, WatchTasks) one credential may
    # hold open on this replica.
    max_streams_per_credential: int
    # Deadline of downstream calls when the caller set none.
    downstream_timeout_seconds: float
    # Find memory/embedder/consensus replicas in the instance registry (else only the static targets);
    # only under mutual TLS, where a replica's certificate proves its capability.
    discovery: bool
    # Serve the agent-facing ports with the CEREBRO_TLS_* certificate (else plaintext: on loopback, or behind
    # a TLS-terminating proxy); calls into the mesh present that certificate either way.
    serve_tls: bool
    # Fallback wake-up of learning streams and of the learning store loop, should a notification be lost.
    learning_poll_seconds: float
    # Tasks assigned within this window count as an instance's load.
    task_load_window_seconds: float
    # An assignee that does not acknowledge a task within this lapses, and the task is distributed again.
    task_acknowledge_seconds: float
    # How often each replica looks for lapsed assignees, and the fallback wake-up of task streams.
    task_poll_seconds: float
    apply_migrations: bool
    pool_size: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = Env(environ)
        return cls(
            rate_per_second=env.float("GATEWAY_RATE_LIMIT_PER_SECOND", 50.0, minimum=0.001, maximum=1_000_000.0),
            burst=env.int("GATEWAY_RATE_LIMIT_BURST", 100, minimum=1, maximum=1_000_000),
            auth_cache_seconds=env.float("GATEWAY_AUTH_CACHE_SECONDS", 5.0, minimum=0.0, maximum=3_600.0),
            unknown_key_cache_seconds=env.float("GATEWAY_UNKNOWN_KEY_CACHE_SECONDS", 5.0, minimum=0.0, maximum=3_600.0),
            auth_failure_burst=env.int("GATEWAY_AUTH_FAILURE_BURST", 20, minimum=1, maximum=1_000_000),
            auth_failure_rate_per_second=env.float(
                "GATEWAY_AUTH_FAILURE_RATE_PER_SECOND", 1.0, minimum=0.001, maximum=1_000_000.0
            ),
            forwarding_proof=forwarding_proof(
                env.secret("GATEWAY_FORWARDING_PROOF"), "CEREBRO_GATEWAY_FORWARDING_PROOF"
            ),
            max_streams_per_credential=env.int("GATEWAY_MAX_STREAMS_PER_CREDENTIAL", 16, minimum=1, maximum=100_000),
            downstream_timeout_seconds=env.float(
                "GATEWAY_DOWNSTREAM_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=3_600.0
            ),
            discovery=env.bool("GATEWAY_DISCOVERY", True),
            serve_tls=env.bool("GATEWAY_SERVE_TLS", True),
            learning_poll_seconds=env.float("GATEWAY_LEARNING_POLL_SECONDS", 2.0, minimum=0.05, maximum=600.0),
            task_load_window_seconds=env.float(
                "GATEWAY_TASK_LOAD_WINDOW_SECONDS", 300.0, minimum=1.0, maximum=30 * 86_400.0
            ),
            task_acknowledge_seconds=env.float(
                "GATEWAY_TASK_ACKNOWLEDGE_SECONDS", 60.0, minimum=0.1, maximum=7 * 86_400.0
            ),
            task_poll_seconds=env.float("GATEWAY_TASK_POLL_SECONDS", 2.0, minimum=0.05, maximum=600.0),
            apply_migrations=env.bool("GATEWAY_APPLY_MIGRATIONS", True),
            pool_size=env.int("GATEWAY_POOL_SIZE", 10, minimum=2, maximum=500),
        )
