"""The `cerebro` command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cerebro.cli import agent, backup, importer, keys, migrate, queue, reembed, restore, up

OPERATIONS = {module.COMMAND: module for module in (importer, backup, restore, queue, reembed)}

# Process name -> module whose main() runs it. `cerebro up` starts them in this order.
PROCESS_MODULES: dict[str, str] = {
    "embedder": "services.embedder.main",
    "consensus": "services.consensus.main",
    "memory": "services.memory.main",
    "embeddings-worker": "services.memory.embeddings_worker",
    "reconciliation-worker": "services.memory.reconciliation_worker",
    "gateway": "services.gateway.main",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cerebro",
        description="Cerebro: shared long-term memory and 2/3-quorum decisions for AI agent instances.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up_parser = commands.add_parser(
        "up",
        help="run every service on this machine (embedded PostgreSQL and Redis unless URLs are set)",
        description=up.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up_parser.add_argument("--data-dir", help="where data and logs live (default: $CEREBRO_DATA_DIR or ~/.cerebro)")
    up_parser.add_argument(
        "--startup-timeout", type=float, default=300.0, help="seconds to wait for every service (default: 300)"
    )

    commands.add_parser(
        "migrate",
        help="apply database migrations and enable the service roles' logins",
        description=migrate.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    serve_parser = commands.add_parser(
        "serve", help="run one service or worker in the foreground (what `cerebro up` starts)"
    )
    serve_parser.add_argument("process", choices=sorted(PROCESS_MODULES), help="the process to run")
    for module in OPERATIONS.values():
        module.add_parser(commands)
    agent.add_parsers(commands)
    keys.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "up":
        sys.exit(up.run(PROCESS_MODULES, data_dir=args.data_dir, startup_timeout=args.startup_timeout))
    if args.command in agent.COMMANDS:
        sys.exit(agent.run(args))
    if args.command == keys.COMMAND:
        sys.exit(keys.run(args))
    if args.command in OPERATIONS:
        sys.exit(OPERATIONS[args.command].run(args))
    if args.command == "migrate":
        sys.exit(migrate.run())
    if args.command == "serve":
        up.exit_with_supervisor()
        importlib.import_module(PROCESS_MODULES[args.process]).main()
