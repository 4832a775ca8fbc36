"""Configuration: typed CEREBRO_* variables, _FILE secrets, one clear line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cerebro.runtime.config import ConfigError, Env, load_service_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_conventions() -> None:
    settings = load_service_settings("memory", {})
    assert (settings.port, settings.metrics_port) == (50052, 9102)
    assert settings.target("embedder") == "localhost:50053"
    assert settings.tls is None and settings.database_url is None
    worker = load_service_settings("embeddings-worker", {})
    assert (worker.port, worker.metrics_port) == (None, 9105)


def test_overrides_and_targets() -> None:
    settings = load_service_settings(
        "embedder",
        {"CEREBRO_EMBEDDER_PORT": "6000", "CEREBRO_MEMORY_TARGET": "memory.internal:443", "CEREBRO_REGION": "eu"},
    )
    assert settings.port == 6000 and settings.region == "eu"
    assert settings.target("memory") == "memory.internal:443"


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "db"
    secret.write_text("postgresql://app:s3cret@db/cerebro\n")
    settings = load_service_settings("memory", {"CEREBRO_DATABASE_URL_FILE": str(secret)})
    assert settings.database_url == "postgresql://app:s3cret@db/cerebro"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CEREBRO_MEMORY_PORT": "http"}, "CEREBRO_MEMORY_PORT='http' is not an integer"),
        ({"CEREBRO_MEMORY_PORT": "70000"}, "CEREBRO_MEMORY_PORT=70000 is above the maximum 65535"),
        ({"CEREBRO_DATABASE_URL_FILE": "/nonexistent/db"}, "CEREBRO_DATABASE_URL_FILE: cannot read '/nonexistent/db'"),
        (
            {"CEREBRO_DATABASE_URL": "x", "CEREBRO_DATABASE_URL_FILE": "/etc/hostname"},
            "CEREBRO_DATABASE_URL and CEREBRO_DATABASE_URL_FILE are both set",
        ),
        ({"CEREBRO_TLS_CERT_FILE": "/etc/hostname"}, "must be set together"),
        ({"CEREBRO_SHUTDOWN_GRACE_SECONDS": "-1"}, "below the minimum"),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_service_settings("memory", environ)


def test_bool_and_choice() -> None:
    env = Env({"CEREBRO_FLAG": "yes", "CEREBRO_MODE": "fast"})
    assert env.bool("FLAG", False) is True
    with pytest.raises(ConfigError, match="CEREBRO_MODE='fast' must be one of: slow, safe"):
        env.choice("MODE", "slow", ("slow", "safe"))


def test_process_stops_at_start_with_one_line(tmp_path: Path) -> None:
    environ = {**os.environ, "CEREBRO_EMBEDDER_PORT": "not-a-port", "CEREBRO_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "cerebro", "serve", "embedder"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cerebro embedder: configuration error: CEREBRO_EMBEDDER_PORT='not-a-port' is not an integer"
    ]
