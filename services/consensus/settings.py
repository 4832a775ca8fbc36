"""Consensus settings (CEREBRO_CONSENSUS_*), read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cerebro.runtime.config import ConfigError, Env


@dataclass(frozen=True)
class ConsensusSettings:
    lease_ttl_seconds: float
    offline_after_seconds: float
    max_clock_skew_seconds: float
    max_proposal_seconds: float
    sweep_interval_seconds: float
    watch_queue_size: int
    # Per kind of watch (instances, proposals), on this replica.
    max_watchers: int
    pool_size: int
    # A streaming replica of the primary for reads (None: every read goes to the primary).
    read_database_url: str | None = None
    replica_wait_seconds: float = 0.1
    # Off where a migration job applies them as the schema owner and this process logs in as a role
    # that could not (compose, Kubernetes, `cerebro up`).
    apply_migrations: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsensusSettings:
        env = Env(environ)
        settings = cls(
            lease_ttl_seconds=env.float("CONSENSUS_LEASE_TTL_SECONDS", 15.0, minimum=0.1, maximum=86_400.0),
            offline_after_seconds=env.float(
                "CONSENSUS_OFFLINE_AFTER_SECONDS", 60.0, minimum=0.1, maximum=30 * 86_400.0
            ),
            max_clock_skew_seconds=env.float("CONSENSUS_MAX_CLOCK_SKEW_SECONDS", 120.0, minimum=1.0, maximum=3_600.0),
            max_proposal_seconds=env.float(
                "CONSENSUS_MAX_PROPOSAL_SECONDS", 7 * 86_400.0, minimum=1.0, maximum=365 * 86_400.0
            ),
            sweep_interval_seconds=env.float("CONSENSUS_SWEEP_INTERVAL_SECONDS", 1.0, minimum=0.05, maximum=60.0),
            watch_queue_size=env.int("CONSENSUS_WATCH_QUEUE_SIZE", 256, minimum=1, maximum=100_000),
            max_watchers=env.int("CONSENSUS_MAX_WATCHERS", 1_000, minimum=1, maximum=100_000),
            pool_size=env.int("CONSENSUS_POOL_SIZE", 10, minimum=2, maximum=200),
            apply_migrations=env.bool("CONSENSUS_APPLY_MIGRATIONS", True),
            read_database_url=env.secret("CONSENSUS_READ_DATABASE_URL"),
            replica_wait_seconds=env.int("CONSENSUS_REPLICA_WAIT_MS", 100, minimum=0, maximum=60_000) / 1000,
        )
        if settings.offline_after_seconds < settings.lease_ttl_seconds:
            raise ConfigError(
                f"CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS={settings.offline_after_seconds} is below "
                f"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS={settings.lease_ttl_seconds}; an instance must turn "
                "standby before it turns offline"
            )
        return settings
