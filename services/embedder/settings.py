"""Embedder settings (CEREBRO_EMBEDDER_*), read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cerebro.runtime.config import Env
from services.embedder.batching import (
    DEFAULT_ADAPTIVE_WAIT_SECONDS,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_QUEUED_TOKENS,
    DEFAULT_MAX_WAIT_SECONDS,
)
from services.embedder.model import DEFAULT_BACKEND, Backend


@dataclass(frozen=True)
class EmbedderSettings:
    backend: str
    # Where the ONNX graphs built at start-up are kept; None: `<CEREBRO_DATA_DIR>/embedder`.
    cache_dir: Path | None
    max_text_bytes: int
    max_batch_texts: int
    max_batch_tokens: int
    max_wait_seconds: float
    adaptive_wait_seconds: float
    max_queued_tokens: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbedderSettings:
        env = Env(environ)
        return cls(
            backend=env.choice("EMBEDDER_BACKEND", DEFAULT_BACKEND.value, tuple(b.value for b in Backend)),
            cache_dir=env.path("EMBEDDER_CACHE_DIR"),
            max_text_bytes=env.int("EMBEDDER_MAX_TEXT_BYTES", 1024 * 1024, minimum=1),
            max_batch_texts=env.int("EMBEDDER_MAX_BATCH_TEXTS", 512, minimum=1),
            # A model call must hold at least one full 256-token window.
            max_batch_tokens=env.int("EMBEDDER_MAX_BATCH_TOKENS", DEFAULT_MAX_BATCH_TOKENS, minimum=256),
            max_wait_seconds=env.float(
                "EMBEDDER_MAX_WAIT_MS", DEFAULT_MAX_WAIT_SECONDS * 1000, minimum=0.0, maximum=1000.0
            )
            / 1000,
            adaptive_wait_seconds=env.float(
                "EMBEDDER_ADAPTIVE_WAIT_MS", DEFAULT_ADAPTIVE_WAIT_SECONDS * 1000, minimum=0.0, maximum=1000.0
            )
            / 1000,
            max_queued_tokens=env.int("EMBEDDER_MAX_QUEUED_TOKENS", DEFAULT_MAX_QUEUED_TOKENS, minimum=256),
        )
