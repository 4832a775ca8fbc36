"""The `cerebro` command: the agent commands, and the commands of the server parts that are installed.

The agent commands (cerebro.cli.agent) need the client alone. The others (up, serve, migrate, keys,
`instances enroll` ...) live with the server code under services/cli/ and are found through entry
points (cerebro.cli.commands), so that a client-only installation imports nothing of the server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cerebro.cli import agent, tasks
from cerebro.cli.commands import NotInstalled, add_part_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cerebro",
        description="Cerebro: shared long-term memory and 2/3-quorum decisions for AI agent instances.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    instance_actions = agent.add_parsers(commands)
    tasks.add_parser(commands)
    add_part_commands(commands, {"instances": instance_actions})
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    # A command that is not installed accepts any arguments: it runs only to say which extra it needs.
    args, unknown = parser.parse_known_args(argv)
    if unknown and not isinstance(args.run, NotInstalled):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    sys.exit(args.run(args))
