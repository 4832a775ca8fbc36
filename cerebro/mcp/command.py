"""`cerebro mcp`: serve the gateway to MCP clients, over stdio (the default) or streamable HTTP.

Joins `cerebro` through the entry-point group ``cerebro.commands.mcp`` (cerebro/cli/commands.py), so
that an installation without the `mcp` extra lists the command with the extra to install.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path

from cerebro.cli.commands import Command
from cerebro.client import ClientSettings
from cerebro.environment import ConfigError, Env
from cerebro.forwarded_client import forwarding_proof
from cerebro.mcp.settings import DEFAULT_PATH, DEFAULT_PORT, LOOPBACK_HOSTS, agent_signer, serving_tls

# The extra's libraries, looked up without importing them: `cerebro --help` loads every command, and the
# SDK's import alone would make each `cerebro` invocation noticeably slower.
for _library in ("mcp", "uvicorn", "starlette", "pydantic"):
    if importlib.util.find_spec(_library) is None:
        raise ModuleNotFoundError(f"No module named {_library!r}", name=_library)

DESCRIPTION = """\
Serve Cerebro to agents that speak the Model Context Protocol: tools to remember, recall (with filters),
list recent episodes, read and rewrite memory blocks, checkpoint and restore, publish a learning, get a
decision, work through the task inbox (list, get, acknowledge, report progress, complete, fail) and, with
the agent's signing key, propose and vote; the memory blocks as resources cerebro://blocks/<label>.

stdio (the default) is for a desktop or IDE agent that starts `cerebro mcp` itself: it calls the gateway
with the agent's API key. http serves MCP's streamable HTTP at http(s)://HOST:PORT/mcp for agents
elsewhere: each request carries its agent's API key as a bearer token, which the gateway checks and every
call of that request uses; this server holds no key of its own. A request without a key the gateway
accepts gets 401."""

EPILOG = """\
The gateway is at CEREBRO_GATEWAY_TARGET (default localhost:50051), trusted through CEREBRO_TLS_CA_FILE
(and CEREBRO_TLS_CERT_FILE/KEY_FILE for mutual TLS). Over stdio the API key comes from CEREBRO_API_KEY or
the file named by CEREBRO_API_KEY_FILE (`cerebro keys issue` makes one).

propose and vote are offered when the server has the agent's Ed25519 key (--key-file or
CEREBRO_AGENT_KEY_FILE) and instance id (--instance-id or CEREBRO_AGENT_INSTANCE_ID, printed by
`cerebro join`); the gateway accepts them only from an API key bound to that instance.

Over http, the gateway sees every agent come from this server's address, and counts authentication
failures per address: give this server the secret the gateway knows (CEREBRO_MCP_FORWARDING_PROOF_FILE,
the same secret as the gateway's CEREBRO_GATEWAY_FORWARDING_PROOF_FILE) and it names each agent's own
address to the gateway, so that one agent's bad keys do not lock the others out.

Over http, HTTPS needs --tls-cert-file and --tls-key-file (or CEREBRO_MCP_TLS_CERT_FILE and
CEREBRO_MCP_TLS_KEY_FILE). Without them it serves plain HTTP, on a loopback address only unless
--plaintext says that a TLS-terminating proxy stands in front.

An MCP client's configuration (Claude Desktop's claude_desktop_config.json, say):
  {"mcpServers": {"cerebro": {"command": "cerebro", "args": ["mcp"],
    "env": {"CEREBRO_GATEWAY_TARGET": "localhost:50051",
            "CEREBRO_API_KEY_FILE": "/home/me/.cerebro/secrets/nexus_api_key"}}}}"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    parser.add_argument("--target", help="gateway host:port (default: $CEREBRO_GATEWAY_TARGET or localhost:50051)")
    parser.add_argument("--timeout", type=float, help="seconds a gateway call may take (default: 10)")
    parser.add_argument("--key-file", type=Path, help="the agent's Ed25519 key (default: $CEREBRO_AGENT_KEY_FILE)")
    parser.add_argument("--instance-id", help="the agent's instance id (default: $CEREBRO_AGENT_INSTANCE_ID)")
    http = parser.add_argument_group("http transport")
    http.add_argument("--host", help="address to listen on (default: $CEREBRO_BIND_HOST or 127.0.0.1)")
    http.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    http.add_argument("--tls-cert-file", type=Path, help="certificate (chain) to serve HTTPS with")
    http.add_argument("--tls-key-file", type=Path, help="its private key")
    http.add_argument(
        "--plaintext", action="store_true", help="serve plain HTTP on a non-loopback address (behind a TLS proxy)"
    )


def run(args: argparse.Namespace) -> int:
    # The SDK and the server are imported only when the command runs (see the check above).
    from cerebro.mcp.gateway import AgentClient, BearerClients
    from cerebro.mcp.http import serve_http
    from cerebro.mcp.server import build_server

    try:
        env = Env()
        settings = ClientSettings.from_env(target=args.target, timeout_seconds=args.timeout)
        signer = agent_signer(args.key_file, args.instance_id, env)
        if args.transport == "stdio" and settings.api_key is None:
            raise ConfigError("needs the agent's API key: CEREBRO_API_KEY or CEREBRO_API_KEY_FILE")
        host = args.host or env.str("BIND_HOST", "127.0.0.1") or "127.0.0.1"
        tls = serving_tls(args.tls_cert_file, args.tls_key_file, env)
        forwarding = forwarding_proof(env.secret("MCP_FORWARDING_PROOF"), "CEREBRO_MCP_FORWARDING_PROOF")
        if args.transport == "http" and tls is None and not args.plaintext and host not in LOOPBACK_HOSTS:
            raise ConfigError(
                f"refusing to serve API keys over plain HTTP on {host}: give --tls-cert-file and --tls-key-file, "
                "or --plaintext behind a TLS-terminating proxy"
            )
    except (ConfigError, ValueError) as error:
        print(f"cerebro mcp: {error}", file=sys.stderr)
        return 2

    async def serve() -> None:
        if args.transport == "stdio":
            agent = AgentClient(settings, signer)
            try:
                await build_server(agent, signing=signer is not None).run_stdio_async()
            finally:
                await agent.close()
        else:
            clients = BearerClients(settings, signer, forwarding_proof=forwarding)
            server = build_server(clients, signing=signer is not None)
            await serve_http(server, clients, host=host, port=args.port, tls=tls, path=DEFAULT_PATH)

    asyncio.run(serve())
    return 0


COMMAND = Command(
    help="serve Cerebro to MCP clients (Model Context Protocol), over stdio or streamable HTTP",
    run=run,
    arguments=_arguments,
    description=DESCRIPTION,
)
