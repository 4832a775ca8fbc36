"""The commands the server parts add to `cerebro`, found through entry points so that the CLI never imports them.

`cerebro` itself has the agent commands (cerebro.cli.agent), which need the client alone. Every other
command is an entry point of the group ``cerebro.commands.<extra>`` in pyproject.toml, where ``<extra>``
is the install extra it needs: its name is the command (``keys``), or ``<command>.<action>`` for an
action of an agent command (``instances.enroll``); its object is a :class:`Command`.

Where that extra is not installed, importing the command's module stops at its first missing
dependency. The command is still listed, and running it says which extra to install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    # What `ArgumentParser.add_subparsers()` returns (generic in typeshed only).
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

GROUP_PREFIX = "cerebro.commands."
# Top-level packages of this project: a missing module of ours is a bug, never a missing extra.
OWN_PACKAGES = frozenset({"cerebro", "services"})


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """For a command that takes no arguments."""


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments, and what runs it (returning the exit status)."""

    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    # Shown by `cerebro <command> --help` (the help line when None); kept as written.
    description: str | None = None


@dataclass(frozen=True)
class NotInstalled:
    """Runs in place of a command whose extra is not installed: says which one, and exits 2."""

    path: str
    extra: str
    missing_module: str

    @property
    def install(self) -> str:
        return f"pip install 'cerebro[{self.extra}]'"

    def command(self) -> Command:
        return Command(
            help=f"(not installed: {self.install})",
            run=self,
            description=self.message(),
        )

    def message(self) -> str:
        return (
            f"`cerebro {self.path}` comes with the {self.extra!r} extra, which this installation lacks "
            f"(no module named {self.missing_module!r}): {self.install}"
        )

    def __call__(self, args: argparse.Namespace) -> int:
        print(f"cerebro: {self.message()}", file=sys.stderr)
        return 2


def add_command(commands: SubParsers, name: str, command: Command) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=command.help,
        description=command.description or command.help[0].upper() + command.help[1:] + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.arguments(parser)
    parser.set_defaults(run=command.run)
    return parser


def add_part_commands(commands: SubParsers, actions: Mapping[str, SubParsers]) -> None:
    """Add the command of every ``cerebro.commands.<extra>`` entry point; ``actions`` are the agent
    commands that take actions from other parts (``instances``), by name."""
    installed = entry_points()
    for group in sorted(group for group in installed.groups if group.startswith(GROUP_PREFIX)):
        extra = group.removeprefix(GROUP_PREFIX)
        for entry in installed.select(group=group):
            parent, _, name = entry.name.rpartition(".")
            if parent and parent not in actions:
                raise LookupError(f"entry point {entry.name!r} of {group}: `cerebro {parent}` takes no actions")
            add_command(actions[parent] if parent else commands, name, _load(entry, extra))


def missing_dependency(error: ModuleNotFoundError) -> str | None:
    """The module of another distribution whose absence ``error`` reports (an extra is not installed),
    or None when the missing module is one of ours (a bug, to be raised)."""
    if error.name is None or error.name.partition(".")[0] in OWN_PACKAGES:
        return None
    return error.name


def _load(entry: EntryPoint, extra: str) -> Command:
    try:
        command = entry.load()
    except ModuleNotFoundError as error:
        missing = missing_dependency(error)
        if missing is None:
            raise
        return NotInstalled(entry.name.replace(".", " "), extra, missing).command()
    if not isinstance(command, Command):
        raise TypeError(f"entry point {entry.name!r} ({entry.value}) is not a cerebro.cli.commands.Command")
    return command
