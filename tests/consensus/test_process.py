"""The consensus process as `cerebro serve consensus` runs it: `services.consensus.main.main()`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.healthcheck import is_serving
from services.consensus.servicer import ConsensusServicer
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
START = [sys.executable, "-c", "from services.consensus.main import main; main()"]


def test_every_rpc_is_implemented() -> None:
    methods = consensus_pb2.DESCRIPTOR.services_by_name["ConsensusService"].methods
    generated = consensus_pb2_grpc.ConsensusServiceServicer
    assert [
        method.name for method in methods if getattr(ConsensusServicer, method.name) is getattr(generated, method.name)
    ] == []


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    return {
        **environ,
        "PYTHONPATH": str(ROOT),
        "CEREBRO_BIND_HOST": "127.0.0.1",
        "CEREBRO_CONSENSUS_METRICS_PORT": "0",
        "CEREBRO_DATA_DIR": str(tmp_path),
        **extra,
    }


@pytest.mark.e2e
def test_serves_health_and_stops_cleanly_on_sigterm(fresh_database_url: str, tmp_path: Path) -> None:
    port = free_port()
    environ = process_env(tmp_path, CEREBRO_CONSENSUS_PORT=str(port), CEREBRO_DATABASE_URL=fresh_database_url)
    log_path = tmp_path / "consensus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(START, env=environ, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not is_serving(f"127.0.0.1:{port}", "cerebro.consensus.v1.ConsensusService", timeout=1):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the consensus process did not start serving"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
def test_without_a_database_url_it_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(START, env=process_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cerebro consensus: configuration error: CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required "
        "by consensus"
    ]


@pytest.mark.e2e
def test_a_bad_consensus_setting_stops_it_with_one_line(tmp_path: Path) -> None:
    environ = process_env(
        tmp_path, CEREBRO_DATABASE_URL="postgresql://unused", CEREBRO_CONSENSUS_LEASE_TTL_SECONDS="soon"
    )
    result = subprocess.run(START, env=environ, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cerebro consensus: configuration error: CEREBRO_CONSENSUS_LEASE_TTL_SECONDS='soon' is not a number"
    ]
