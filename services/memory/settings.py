"""Settings of the memory service and its workers (CEREBRO_MEMORY_*, CEREBRO_*_WORKER_*), read at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cerebro.runtime.config import ConfigError, Env

ROLE_PATTERN_HELP = "a PostgreSQL role name such as cerebro_memory"


def _role(env: Env, name: str) -> str | None:
    role = env.str(name)
    if role is not None and not role.replace("_", "").isalnum():
        raise ConfigError(f"CEREBRO_{name}={role!r} is not {ROLE_PATTERN_HELP}")
    return role


@dataclass(frozen=True)
class MemorySettings:
    """The memory API process."""

    database_role: str | None
    apply_migrations: bool
    pool_max_size: int
    embedder_timeout_seconds: float
    text_statistics_fold_seconds: float
    # A streaming replica of the primary for reads (None: every read goes to the primary).
    read_database_url: str | None
    replica_wait_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MemorySettings:
        env = Env(environ)
        return cls(
            read_database_url=env.secret("MEMORY_READ_DATABASE_URL"),
            replica_wait_seconds=env.int("MEMORY_REPLICA_WAIT_MS", 100, minimum=0, maximum=60_000) / 1000,
            database_role=_role(env, "MEMORY_DATABASE_ROLE"),
            apply_migrations=env.bool("MEMORY_APPLY_MIGRATIONS", True),
            pool_max_size=env.int("MEMORY_POOL_SIZE", 20, minimum=2, maximum=500),
            embedder_timeout_seconds=env.float("MEMORY_EMBEDDER_TIMEOUT_SECONDS", 5.0, minimum=0.1, maximum=300.0),
            text_statistics_fold_seconds=env.float(
                "MEMORY_TEXT_STATISTICS_FOLD_SECONDS", 2.0, minimum=0.05, maximum=3600.0
            ),
        )


@dataclass(frozen=True)
class EmbeddingsWorkerSettings:
    """The embeddings worker process."""

    database_role: str | None
    apply_migrations: bool
    batch_size: int
    concurrency: int
    lease_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    poll_interval_seconds: float
    reembed_batch_size: int
    embedder_timeout_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbeddingsWorkerSettings:
        env = Env(environ)
        return cls(
            database_role=_role(env, "EMBEDDINGS_WORKER_DATABASE_ROLE"),
            apply_migrations=env.bool("MEMORY_APPLY_MIGRATIONS", True),
            batch_size=env.int("EMBEDDINGS_WORKER_BATCH_SIZE", 64, minimum=1, maximum=512),
            concurrency=env.int("EMBEDDINGS_WORKER_CONCURRENCY", 2, minimum=1, maximum=32),
            lease_seconds=env.float("EMBEDDINGS_WORKER_LEASE_SECONDS", 120.0, minimum=0.5, maximum=3600.0),
            max_attempts=env.int("EMBEDDINGS_WORKER_MAX_ATTEMPTS", 8, minimum=1, maximum=100),
            backoff_base_seconds=env.float("EMBEDDINGS_WORKER_BACKOFF_SECONDS", 1.0, minimum=0.0, maximum=3600.0),
            backoff_max_seconds=env.float("EMBEDDINGS_WORKER_BACKOFF_MAX_SECONDS", 300.0, minimum=0.0, maximum=86400.0),
            poll_interval_seconds=env.float("EMBEDDINGS_WORKER_POLL_SECONDS", 5.0, minimum=0.05, maximum=3600.0),
            reembed_batch_size=env.int("EMBEDDINGS_WORKER_REEMBED_BATCH_SIZE", 500, minimum=1, maximum=100_000),
            embedder_timeout_seconds=env.float(
                "EMBEDDINGS_WORKER_EMBEDDER_TIMEOUT_SECONDS", 60.0, minimum=0.1, maximum=3600.0
            ),
        )


@dataclass(frozen=True)
class ReconciliationWorkerSettings:
    """The reconciliation worker process."""

    database_role: str | None
    apply_migrations: bool
    interval_seconds: float
    batch_size: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReconciliationWorkerSettings:
        env = Env(environ)
        return cls(
            database_role=_role(env, "RECONCILIATION_WORKER_DATABASE_ROLE"),
            apply_migrations=env.bool("MEMORY_APPLY_MIGRATIONS", True),
            interval_seconds=env.float("RECONCILIATION_WORKER_INTERVAL_SECONDS", 60.0, minimum=0.05, maximum=86400.0),
            batch_size=env.int("RECONCILIATION_WORKER_BATCH_SIZE", 500, minimum=1, maximum=100_000),
        )
