"""`cerebro episodes|projects|working|checkpoints|knowledge`: the rest of the agent's memory, through the client.

Each command has actions (`cerebro projects archive ID`); without one it lists. The options follow the
action, as with `cerebro blocks`. Output and errors are those of the other agent commands (cerebro.cli.agent).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from cerebro.cli.tables import cell, print_fields, print_table, when
from cerebro.cli.times import moment, timestamp
from cerebro.client import AsyncCerebroClient
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import episodes_pb2, namespaces_pb2

Call = Callable[[AsyncCerebroClient], Awaitable[Message]]
Show = Callable[[Any], None]
AddCommand = Callable[[str, str, list[argparse.ArgumentParser], str], argparse.ArgumentParser]

COMMANDS = ("episodes", "projects", "working", "checkpoints", "knowledge")
PROJECT_STATUSES = {
    "active": namespaces_pb2.PROJECT_STATUS_ACTIVE,
    "completed": namespaces_pb2.PROJECT_STATUS_COMPLETED,
    "paused": namespaces_pb2.PROJECT_STATUS_PAUSED,
    "archived": namespaces_pb2.PROJECT_STATUS_ARCHIVED,
}
STATUS_NAMES = {value: name for name, value in PROJECT_STATUSES.items()}
LISTED = 1000

FORGET_HELP = """\
`forget` only counts the episodes its filter matches (a dry run) unless --force is given; it needs at
least one of --tag, --project, --since, --until, --min-importance. WHEN is an ISO 8601 time or an age
such as 7d (that long ago); times are when the episodes happened."""


def add_parsers(add: AddCommand, common: argparse.ArgumentParser, epilog: str) -> None:
    """Register the commands with ``add`` (cerebro.cli.agent's), each action taking the ``common`` options."""
    namespace = argparse.ArgumentParser(add_help=False)
    namespace.add_argument("--namespace", default="", help="another namespace that granted the caller read access")

    def actions_of(name: str, help: str, extra_epilog: str = "") -> Any:
        parser = add(name, help, [], (extra_epilog + "\n\n" if extra_epilog else "") + epilog)
        parser.set_defaults(target=None, timeout=None, json=False, namespace="")
        return parser.add_subparsers(dest="action", metavar="ACTION")

    episodes = actions_of("episodes", "list, correct, delete or forget episodes", FORGET_HELP)
    listed = episodes.add_parser("list", help="the newest episodes (the default)", parents=[common, namespace])
    listed.add_argument("--limit", type=int, default=20, help="most episodes (default: 20)")
    update = episodes.add_parser("update", help="correct an episode (new content is embedded again)", parents=[common])
    update.add_argument("episode_id")
    update.add_argument("--content")
    update.add_argument("--tag", dest="tags", action="append", help="the new tags (repeatable; replace the old)")
    update.add_argument("--no-tags", action="store_true", help="remove every tag")
    update.add_argument("--importance", type=float, help="0 to 1")
    update.add_argument("--metadata", type=_json_object, help="new metadata, a JSON object (replaces the old)")
    delete = episodes.add_parser("delete", help="delete an episode", parents=[common])
    delete.add_argument("episode_id")
    forget = episodes.add_parser("forget", help="forget the episodes a filter matches", parents=[common])
    forget.add_argument("--tag", dest="tags", action="append", default=[], help="episodes with this tag (repeatable)")
    forget.add_argument("--project", default="", help="episodes of this project id")
    forget.add_argument("--since", type=moment, metavar="WHEN", help="episodes that happened at or after WHEN")
    forget.add_argument("--until", type=moment, metavar="WHEN", help="episodes that happened before WHEN")
    forget.add_argument("--min-importance", type=float, help="episodes at least this important")
    forget.add_argument("--force", action="store_true", help="forget them (otherwise only count them)")

    projects = actions_of("projects", "list, show, create or archive projects")
    listed = projects.add_parser("list", help="projects, newest first (the default)", parents=[common, namespace])
    listed.add_argument("--status", choices=sorted(PROJECT_STATUSES))
    show = projects.add_parser("show", help="one project", parents=[common, namespace])
    show.add_argument("project_id")
    create = projects.add_parser("create", help="create a project", parents=[common])
    create.add_argument("display_name")
    create.add_argument("--dna", default="", help="a stable short identifier")
    create.add_argument("--description", default="")
    archive = projects.add_parser("archive", help="archive a project (its episodes stay)", parents=[common])
    archive.add_argument("project_id")

    working = actions_of("working", "list or delete working memory items")
    listed = working.add_parser("list", help="unexpired items, newest first (the default)", parents=[common])
    listed.add_argument("--type", dest="context_type", default="", help="only items of this context type")
    delete = working.add_parser("delete", help="delete an item", parents=[common])
    delete.add_argument("item_id")

    checkpoints = actions_of("checkpoints", "list or show checkpoints")
    listed = checkpoints.add_parser("list", help="checkpoints, newest first (the default)", parents=[common])
    listed.add_argument("--type", dest="checkpoint_type", default="", help="only checkpoints of this type")
    show = checkpoints.add_parser("show", help="one checkpoint with its state", parents=[common])
    show.add_argument("checkpoint_id")

    knowledge = actions_of("knowledge", "list, show, look up or delete semantic knowledge")
    listed = knowledge.add_parser("list", help="knowledge, newest first (the default)", parents=[common, namespace])
    listed.add_argument("--concept", default="", help="only knowledge of this concept (ignoring case)")
    show = knowledge.add_parser("show", help="one piece of knowledge by id", parents=[common, namespace])
    show.add_argument("semantic_memory_id")
    lookup = knowledge.add_parser("lookup", help="the newest knowledge of a concept", parents=[common, namespace])
    lookup.add_argument("concept")
    delete = knowledge.add_parser("delete", help="delete a piece of knowledge", parents=[common])
    delete.add_argument("semantic_memory_id")


def handlers(args: argparse.Namespace) -> tuple[Call, Show]:
    """What to call on the gateway for one of :data:`COMMANDS`, and how to show its response."""
    command, action = args.command, args.action
    if command == "episodes":
        return _episode_handlers(args)
    if command == "projects":
        if action == "show":
            return (lambda c: c.get_project(args.project_id, namespace=args.namespace), _show_project)
        if action == "create":
            return (
                lambda c: c.create_project(args.display_name, dna=args.dna, description=args.description),
                _show_project,
            )
        if action == "archive":
            return (lambda c: c.archive_project(args.project_id), _show_project)
        status = PROJECT_STATUSES.get(args.status or "", namespaces_pb2.PROJECT_STATUS_UNSPECIFIED)
        return (
            lambda c: c.list_projects(status=status, page_size=LISTED, namespace=args.namespace),
            _show_projects,
        )
    if command == "working":
        if action == "delete":
            return (lambda c: c.delete_working_memory(args.item_id), lambda _: print(f"deleted {args.item_id}"))
        return (lambda c: c.list_working_memory(context_type=args.context_type, page_size=LISTED), _show_items)
    if command == "checkpoints":
        if action == "show":
            return (lambda c: c.get_checkpoint(args.checkpoint_id), _show_checkpoint)
        return (
            lambda c: c.list_checkpoints(checkpoint_type=args.checkpoint_type, page_size=LISTED),
            _show_checkpoints,
        )
    if action == "show":
        return (lambda c: c.get_knowledge(args.semantic_memory_id, namespace=args.namespace), _show_knowledge)
    if action == "lookup":
        return (lambda c: c.lookup_knowledge(args.concept, namespace=args.namespace), _show_knowledge)
    if action == "delete":
        return (
            lambda c: c.delete_knowledge(args.semantic_memory_id),
            lambda _: print(f"deleted {args.semantic_memory_id}"),
        )
    return (
        lambda c: c.list_knowledge(concept=getattr(args, "concept", ""), page_size=LISTED, namespace=args.namespace),
        _show_knowledge_list,
    )


def _episode_handlers(args: argparse.Namespace) -> tuple[Call, Show]:
    if args.action == "update":
        tags: Sequence[str] | None = [] if args.no_tags else args.tags
        return (
            lambda c: c.update_episode(
                args.episode_id,
                content=args.content,
                tags=tags,
                importance=args.importance,
                metadata=args.metadata,
            ),
            lambda response: _show_episode(response.episode),
        )
    if args.action == "delete":
        return (lambda c: c.delete_episode(args.episode_id), lambda _: print(f"deleted {args.episode_id}"))
    if args.action == "forget":
        selected = episodes_pb2.EpisodeFilter(
            tags=args.tags,
            project_id=args.project,
            start_time=timestamp(args.since),
            end_time=timestamp(args.until),
            min_importance=args.min_importance,
        )
        return (lambda c: c.forget_episodes(selected, force=args.force), lambda r: _show_forgotten(r, args.force))
    limit = getattr(args, "limit", 20)
    return (lambda c: c.recent_episodes(page_size=limit, namespace=args.namespace), _show_episodes)


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return parsed


def _show_episode(episode: Any) -> None:
    print_fields(
        [
            ("episode", episode.episode_id),
            ("occurred", when(episode.occur_time)),
            ("updated", when(episode.update_time)),
            ("importance", f"{episode.importance:g}"),
            ("tags", ", ".join(episode.tags) or "-"),
            ("embedding", episodes_pb2.EmbeddingState.Name(episode.embedding_state).removeprefix("EMBEDDING_STATE_")),
            ("content", cell(episode.content)),
        ]
    )


def _show_episodes(response: pb.ListRecentEpisodesResponse) -> None:
    rows = [[e.episode_id, when(e.occur_time), ", ".join(e.tags), cell(e.content)] for e in response.episodes]
    print_table(["episode", "occurred", "tags", "content"], rows)


def _show_forgotten(response: pb.ForgetEpisodesResponse, forced: bool) -> None:
    if forced:
        print(f"forgot {response.forget_count} episode(s)")
    else:
        print(f"would forget {response.forget_count} episode(s); run again with --force to forget them")
    for episode_id in response.forget_sample:
        print(f"  {episode_id}")


def _show_project(response: Any) -> None:
    project = response.project
    print_fields(
        [
            ("project", project.project_id),
            ("name", project.display_name),
            ("dna", project.dna or "-"),
            ("status", STATUS_NAMES.get(project.status, "?")),
            ("created", when(project.create_time)),
            ("updated", when(project.update_time)),
            ("description", cell(project.description) or "-"),
        ]
    )


def _show_projects(response: pb.ListProjectsResponse) -> None:
    rows = [
        [p.project_id, p.display_name, p.dna or "-", STATUS_NAMES.get(p.status, "?"), when(p.create_time)]
        for p in response.projects
    ]
    print_table(["project", "name", "dna", "status", "created"], rows)


def _show_items(response: pb.ListWorkingMemoryItemsResponse) -> None:
    rows = [
        [item.item_id, item.context_type, when(item.expire_time), cell(json.dumps(_dict(item.content)))]
        for item in response.items
    ]
    print_table(["item", "type", "expires", "content"], rows)


def _show_checkpoint(response: pb.GetCheckpointResponse) -> None:
    checkpoint = response.checkpoint
    print_fields(
        [
            ("checkpoint", checkpoint.checkpoint_id),
            ("type", checkpoint.checkpoint_type),
            ("created", when(checkpoint.create_time)),
            ("blocks", str(checkpoint.block_count)),
            ("identity hash", checkpoint.identity_hash),
        ]
    )
    print()
    print(json.dumps(_dict(checkpoint.state_data), indent=2, ensure_ascii=False))


def _show_checkpoints(response: pb.ListCheckpointsResponse) -> None:
    rows = [[c.checkpoint_id, c.checkpoint_type, when(c.create_time), str(c.block_count)] for c in response.checkpoints]
    print_table(["checkpoint", "type", "created", "blocks"], rows)


def _show_knowledge(response: Any) -> None:
    knowledge = response.knowledge
    print_fields(
        [
            ("knowledge", knowledge.semantic_memory_id),
            ("concept", knowledge.concept),
            ("confidence", f"{knowledge.confidence:g}"),
            ("updated", when(knowledge.update_time)),
        ]
    )
    print()
    print(knowledge.definition)


def _show_knowledge_list(response: pb.ListKnowledgeResponse) -> None:
    rows = [
        [k.semantic_memory_id, cell(k.concept), f"{k.confidence:g}", cell(k.definition)] for k in response.knowledge
    ]
    print_table(["knowledge", "concept", "confidence", "definition"], rows)


def _dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)
