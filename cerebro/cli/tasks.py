"""`cerebro tasks list|show|watch|ack|complete|fail`: the task inbox of the agent the API key is bound to.

Readable lines by default; `--json` prints canonical protobuf JSON (`watch`: one object per line).
Errors print one line on stderr and exit 1; bad arguments or settings exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import Message

from cerebro.cli.agent import CONNECTION_HELP, connection_options
from cerebro.cli.tables import cell, print_fields, print_table, when
from cerebro.client import AsyncCerebroClient, CerebroError, ClientSettings
from cerebro.environment import ConfigError
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2

if TYPE_CHECKING:
    from cerebro.cli.commands import SubParsers

TASKS_HELP = """\
A task another agent distributed (DistributeTask) comes to the instance the API key is bound to:
    cerebro tasks watch                     every task not acknowledged yet, then new ones as they come
    cerebro tasks ack TASK_ID               take it on (it is not delivered again)
    cerebro tasks complete TASK_ID --result '{"answer": 42}'
    cerebro tasks fail TASK_ID "why"
A task not acknowledged in time, or whose assignee leaves the network, goes to another instance.
`list --distributed` and `show` are for the agent that distributed a task, too."""

STATES = {
    name.removeprefix("TASK_STATE_").lower(): number
    for name, number in resources_pb2.TaskState.items()
    if number != resources_pb2.TASK_STATE_UNSPECIFIED
}
STATE_NAMES = {number: name for name, number in STATES.items()}


def add_parser(commands: SubParsers) -> None:
    common = connection_options()
    tasks = commands.add_parser(
        "tasks",
        help="the task inbox: watch, list, acknowledge, complete or fail tasks",
        description="The task inbox of the agent the API key is bound to.",
        epilog=TASKS_HELP + "\n\n" + CONNECTION_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks.set_defaults(run=run)
    actions = tasks.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="tasks assigned to this agent, newest first", parents=[common])
    listing.add_argument("--distributed", action="store_true", help="the tasks this agent distributed instead")
    listing.add_argument("--state", dest="states", action="append", choices=sorted(STATES), default=[])
    show = actions.add_parser("show", help="one task", parents=[common])
    show.add_argument("task_id")
    watch = actions.add_parser("watch", help="tasks as they are assigned (until interrupted)", parents=[common])
    watch.add_argument("--after-cursor", type=int, default=0, help="resume after the cursor last printed")
    watch.add_argument("--count", type=_positive, help="stop after this many tasks")
    ack = actions.add_parser("ack", help="acknowledge a task: this agent takes it on", parents=[common])
    ack.add_argument("task_id")
    complete = actions.add_parser("complete", help="complete an acknowledged task", parents=[common])
    complete.add_argument("task_id")
    complete.add_argument("--result", type=_json_object, help="the result, a JSON object")
    fail = actions.add_parser(
        "fail",
        help="fail an acknowledged task, saying why (it goes to another eligible instance, else ends FAILED)",
        parents=[common],
    )
    fail.add_argument("task_id")
    fail.add_argument("error_message")
    fail.add_argument("--result", type=_json_object, help="details, a JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        settings = ClientSettings.from_env(target=args.target, timeout_seconds=args.timeout)
    except (ConfigError, ValueError) as error:
        print(f"cerebro tasks: {error}", file=sys.stderr)
        return 2
    try:
        if args.action == "watch":
            asyncio.run(_watch(settings, args))
        else:
            call, show = _handlers(args)
            response = asyncio.run(_call(settings, call))
            if args.json:
                print(json.dumps(json_format.MessageToDict(response), indent=2, ensure_ascii=False))
            else:
                show(response)
    except CerebroError as error:
        print(f"cerebro tasks {args.action}: {error.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


Call = Callable[[AsyncCerebroClient], Awaitable[Message]]


async def _call(settings: ClientSettings, call: Call) -> Message:
    async with AsyncCerebroClient(settings) as client:
        return await call(client)


async def _watch(settings: ClientSettings, args: argparse.Namespace) -> None:
    received = 0
    async with AsyncCerebroClient(settings) as client:
        async for message in client.watch_tasks(args.after_cursor):
            if args.json:
                print(json.dumps(json_format.MessageToDict(message), ensure_ascii=False), flush=True)
            else:
                task = message.task
                print(
                    f"cursor {message.cursor}  task {task.task_id}  from {task.distributor}  {cell(task.description)}",
                    flush=True,
                )
            received += 1
            if args.count is not None and received >= args.count:
                return


def _handlers(args: argparse.Namespace) -> tuple[Call, Callable[[Any], None]]:
    if args.action == "list":
        states = [STATES[name] for name in args.states]
        return (
            lambda client: client.list_tasks(distributed=args.distributed, states=states, page_size=1000),
            _show_tasks,
        )
    if args.action == "show":
        return (lambda client: client.get_task(args.task_id), lambda response: _show_task(response.task))
    if args.action == "ack":
        return (lambda client: client.acknowledge_task(args.task_id), lambda response: _show_task(response.task))
    if args.action == "complete":
        return (
            lambda client: client.complete_task(args.task_id, result=args.result),
            lambda response: _show_task(response.task),
        )
    return (
        lambda client: client.fail_task(args.task_id, args.error_message, result=args.result),
        lambda response: _show_task(response.task),
    )


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return parsed


def _show_tasks(response: pb.ListTasksResponse) -> None:
    rows = [
        [
            task.task_id,
            STATE_NAMES.get(task.state, "?"),
            task.assignment.instance.instance_name,
            task.distributor,
            when(task.create_time),
            cell(task.description),
        ]
        for task in response.tasks
    ]
    print_table(["task id", "state", "assignee", "distributor", "created", "description"], rows)


def _show_task(task: resources_pb2.Task) -> None:
    fields = [
        ("task id", task.task_id),
        ("state", STATE_NAMES.get(task.state, "?")),
        ("description", task.description),
        ("distributor", task.distributor),
        ("assignee", task.assignment.instance.instance_name),
        ("why", task.assignment.reason),
        ("assignments", str(task.assignment_count)),
        ("created", when(task.create_time)),
        ("updated", when(task.update_time)),
    ]
    if task.HasField("acknowledge_deadline"):
        fields.append(("acknowledge by", when(task.acknowledge_deadline)))
    if task.HasField("progress"):
        fields.append(("progress", f"{task.progress:.0%} {task.status_message}".rstrip()))
    if task.error_message:
        fields.append(("error", task.error_message))
    if task.HasField("result"):
        fields.append(("result", json.dumps(json_format.MessageToDict(task.result), ensure_ascii=False)))
    print_fields(fields)
