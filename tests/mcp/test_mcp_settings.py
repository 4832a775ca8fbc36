"""`cerebro mcp` without a mesh: how gateway errors are named for the agent, what the agent gets while the
gateway is down, bearer tokens, and the settings it refuses before serving anything."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent
from starlette.datastructures import Headers

from cerebro.client import ClientSettings, InvalidArgument, NotFound
from cerebro.consensus.keys import load_or_create_identity_key
from cerebro.environment import ConfigError, Env
from cerebro.forwarded_client import forwarding_proof
from cerebro.mcp.errors import argument_name, describe
from cerebro.mcp.gateway import AgentClient
from cerebro.mcp.http import bearer_token
from cerebro.mcp.server import CHECKPOINT_RENAMES, RECALL_RENAMES, build_server
from cerebro.mcp.settings import agent_signer, serving_tls
from tests.cerebro_up import ROOT


def _bad_request(*violations: tuple[str, str]) -> InvalidArgument:
    details = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in violations
        ]
    )
    message = "; ".join(f"{field}: {description}" for field, description in violations)
    return InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, message, (details,))


async def test_while_the_gateway_is_down_every_answer_says_so() -> None:
    # Nothing listens on port 1: the SDK's client, in process, against a server whose gateway is unreachable.
    agent = AgentClient(ClientSettings(target="127.0.0.1:1", api_key="some-key", timeout_seconds=1), None)
    try:
        async with Client(build_server(agent, signing=False)) as client:
            remembered = await client.call_tool("remember", {"content": "the gateway is away"})
            with pytest.raises(MCPError, match=r"^listing the memory blocks failed: (UNAVAILABLE|DEADLINE_EXCEEDED)"):
                await client.list_resources()
            with pytest.raises(MCPError, match=r"^cerebro://blocks/persona: (UNAVAILABLE|DEADLINE_EXCEEDED)"):
                await client.read_resource("cerebro://blocks/persona")
    finally:
        await agent.close()
    assert remembered.is_error
    [content] = remembered.content
    assert isinstance(content, TextContent)
    assert re.match(r"Error executing tool remember: (UNAVAILABLE|DEADLINE_EXCEEDED): ", content.text), content.text


def test_request_paths_are_named_as_the_tools_arguments() -> None:
    assert argument_name("filter.start_time", RECALL_RENAMES) == "since"
    assert argument_name("filter.tags[2]", RECALL_RENAMES) == "tags[2]"
    assert argument_name("weighting.recency_weight", RECALL_RENAMES) == "recency_weight"
    assert argument_name("checkpoint.state_data.x", CHECKPOINT_RENAMES) == "state_data.x"
    # Only whole path segments are renamed; what no rename covers stays as the gateway said.
    assert argument_name("filter.start_timestamp", RECALL_RENAMES) == "filter.start_timestamp"
    assert argument_name("top_k", RECALL_RENAMES) == "top_k"


def test_an_error_names_each_bad_argument() -> None:
    error = _bad_request(("filter.end_time", "must be after start_time"), ("top_k", "at most 100"))
    assert describe(error, RECALL_RENAMES) == "INVALID_ARGUMENT: until: must be after start_time; top_k: at most 100"
    missing = NotFound(grpc.StatusCode.NOT_FOUND, "memory block 'persona' not found")
    assert describe(missing) == "NOT_FOUND: memory block 'persona' not found"


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer abc.def", "abc.def"),
        ("bearer   abc", "abc"),
        ("Bearer ", None),
        ("Basic abc", None),
        ("", None),
    ],
)
def test_bearer_token(authorization: str, token: str | None) -> None:
    headers = Headers({"authorization": authorization} if authorization else {})
    assert bearer_token(headers) == token


def test_signing_needs_the_key_and_the_instance_together(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.pem"
    load_or_create_identity_key(key_file)
    assert agent_signer(None, None, Env({})) is None
    with pytest.raises(ConfigError, match="both the agent's key file and its instance id"):
        agent_signer(key_file, None, Env({}))
    with pytest.raises(ConfigError, match="no such key file"):
        agent_signer(tmp_path / "absent.pem", "instance-1", Env({}))
    signer = agent_signer(
        None, None, Env({"CEREBRO_AGENT_KEY_FILE": str(key_file), "CEREBRO_AGENT_INSTANCE_ID": "i-1"})
    )
    assert signer is not None and signer.instance_id == "i-1"


def test_https_needs_the_certificate_and_its_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "mcp.crt", tmp_path / "mcp.key"
    cert.write_text("certificate")
    key.write_text("key")
    assert serving_tls(None, None, Env({})) is None
    with pytest.raises(ConfigError, match="together"):
        serving_tls(cert, None, Env({}))
    with pytest.raises(ConfigError, match="no such file"):
        serving_tls(cert, tmp_path / "absent.key", Env({}))
    served = serving_tls(
        None, None, Env({"CEREBRO_MCP_TLS_CERT_FILE": str(cert), "CEREBRO_MCP_TLS_KEY_FILE": str(key)})
    )
    assert served is not None and served.cert_file == cert


def _cerebro_mcp(*argv: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cerebro", "mcp", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(environ or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_over_stdio_it_needs_the_agents_api_key() -> None:
    done = _cerebro_mcp()
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "cerebro mcp: needs the agent's API key: CEREBRO_API_KEY or CEREBRO_API_KEY_FILE\n"


def test_it_refuses_to_serve_keys_over_plain_http_beyond_loopback() -> None:
    done = _cerebro_mcp("--transport", "http", "--host", "0.0.0.0")
    assert done.returncode == 2
    assert "refusing to serve API keys over plain HTTP on 0.0.0.0" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_forwarding_proof_must_be_hard_to_guess() -> None:
    assert forwarding_proof(None, "CEREBRO_MCP_FORWARDING_PROOF") is None
    assert forwarding_proof("a-proof-of-24-characters", "CEREBRO_MCP_FORWARDING_PROOF") == "a-proof-of-24-characters"
    for weak in ("short", "sixteen chars but spaces", "x" * 513):
        with pytest.raises(ConfigError, match="CEREBRO_MCP_FORWARDING_PROOF"):
            forwarding_proof(weak, "CEREBRO_MCP_FORWARDING_PROOF")
    done = _cerebro_mcp("--transport", "http", environ={"CEREBRO_MCP_FORWARDING_PROOF": "short"})
    assert done.returncode == 2
    assert done.stderr.startswith("cerebro mcp: CEREBRO_MCP_FORWARDING_PROOF(_FILE) must hold")
