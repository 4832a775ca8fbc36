"""examples/nexus_agent.py runs end to end, as its own process, against a real mesh, through the gateway alone."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

from cerebro.runtime.registration import load_or_create_identity_key
from tests.gateway.harness import Mesh

REPOSITORY = Path(__file__).resolve().parents[2]


async def test_the_nexus_agent_loop_runs_against_the_mesh(mesh: Mesh) -> None:
    name = f"NEXUS-{uuid.uuid4().hex[:8]}"
    key_file = mesh.data_dir / "example" / "api_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text((await mesh.issue(f"nexus-{name[6:]}", instance_name=name)).token)
    agent_key_file = mesh.data_dir / "example" / f"{name}.pem"
    await mesh.consensus.enroll(name, load_or_create_identity_key(agent_key_file))
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "CEREBRO_GATEWAY_TARGET": mesh.gateway.target,
        "CEREBRO_API_KEY_FILE": str(key_file),
        "CEREBRO_AGENT_NAME": name,
        "CEREBRO_AGENT_KEY_FILE": str(agent_key_file),
    }
    environ.pop("CEREBRO_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPOSITORY / "examples" / "nexus_agent.py"),
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[0].startswith(f"{name} joined the mesh as instance ")
    assert any(line.startswith("recalled (") and "reconnect backoff" in line for line in lines)
    assert any(line.startswith("checkpoint ") and line.endswith("continuity 1.00") for line in lines)
    assert any(line.startswith("shared emotional state: ") and " member(s), mean focus " in line for line in lines)
    assert "a dry run would forget 1 draft(s)" in lines and "forgot 1 draft(s)" in lines
    assert any(line.endswith(": the backoff is exponential with jitter") for line in lines)
    assert "session_notes versions: [2, 1]" in lines
    assert "knowledge of 'Reconnect Backoff': exponential, with jitter" in lines
    assert "1 session checkpoint(s), the latest holding {'focus': 'mesh health'}" in lines
    assert any(line.startswith("task ") and line.endswith(f": SUCCEEDED by {name}") for line in lines)
    assert "yes=1" in lines[-1]
