"""`cerebro remember|recall|blocks|instances|join|propose|vote`: the gateway for people, through the client.

The rest of the memory model (`cerebro episodes|projects|working|checkpoints|knowledge`) is in cerebro.cli.memory.

Readable tables by default; `--json` prints the response in protobuf's canonical JSON for scripts.
Errors print one line (code, message, field violations) on stderr and exit 1; bad settings exit 2.
`cerebro instances public-key` is the agent's side of enrolment; the operator's side (`instances enroll`,
`revoke`, `enrolled`) comes with the server extra (services/cli/enrollments.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf import json_format
from google.protobuf.message import Message

from cerebro.cli import memory
from cerebro.cli.remember_file import MAX_BATCH, remember_file
from cerebro.cli.tables import cell, print_fields, print_table, when
from cerebro.cli.times import duration, moment, timestamp
from cerebro.client import AgentSigner, AsyncCerebroClient, CerebroError, ClientSettings
from cerebro.consensus.keys import load_or_create_identity_key
from cerebro.consensus.names import INSTANCE_STATUSES, INSTANCE_TYPES, PROPOSAL_STATES
from cerebro.consensus.v1 import consensus_pb2
from cerebro.environment import ConfigError, Env
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import episodes_pb2

if TYPE_CHECKING:
    from cerebro.cli.commands import SubParsers

CONNECTION_HELP = """\
The gateway is at CEREBRO_GATEWAY_TARGET (default localhost:50051); the API key comes from
CEREBRO_API_KEY or the file named by CEREBRO_API_KEY_FILE (`cerebro keys issue` makes one);
TLS from CEREBRO_TLS_CA_FILE (and CEREBRO_TLS_CERT_FILE/KEY_FILE for mutual TLS)."""

RECALL_HELP = """\
WHEN is an ISO 8601 time (2026-05-01, 2026-05-01T10:00:00Z) or an age such as 30m, 12h, 7d (that long
ago); a time without a zone is UTC. Times are when the episodes happened (occur_time). --min-score keeps
vector candidates at least that similar to the query (0.7 is strict); in hybrid mode episodes sharing
words with the query are still found. Not with --mode text."""

REMEMBER_HELP = """\
--from-jsonl FILE stores many episodes: each line is a JSON object as the gateway's Remember takes it,
e.g. {"content": "...", "tags": ["chat"], "importance": 0.7, "occur_time": "2026-05-01T10:00:00Z"}. The
file is checked whole before anything is sent (a bad line is named); each batch is stored whole or not
at all. A line without "request_id" gets one made from the file's path, the line's number and its text,
so running the same command again after an interruption or a fix stores nothing twice."""

SEARCH_MODES = {
    "hybrid": episodes_pb2.SEARCH_MODE_HYBRID,
    "text": episodes_pb2.SEARCH_MODE_TEXT,
    "vector": episodes_pb2.SEARCH_MODE_VECTOR,
}

SIGNING_HELP = """\
Proposals and votes are signed by the agent itself: --key-file (or CEREBRO_AGENT_KEY_FILE) is its Ed25519
key (PEM) and --instance-id (or CEREBRO_AGENT_INSTANCE_ID) the id `cerebro join` printed; the API key
must be bound to that instance."""

JOIN_HELP = """\
Registers the agent's Ed25519 key (--key-file or CEREBRO_AGENT_KEY_FILE, created with mode 0600 if missing)
through the gateway, and prints the instance id that signs its proposals and votes. Joining again with the
same key keeps the id. The lease lasts the printed time: a long-running agent renews it (the Python
client does so by itself); a lapsed lease only leaves the electorate of new proposals until the next join."""

ENROLMENT_HELP = """\
An agent joins (`cerebro join`) only with a key an operator enrolled for its name; a name enrolled for a
key belongs to that key, and only keys enrolled --voting are in the electorate of new proposals:
    cerebro instances public-key --key-file ~/.cerebro/agents/NEXUS.pem > NEXUS.pub   (the agent)
    cerebro instances enroll NEXUS --public-key NEXUS.pub --voting                    (the operator)
enroll, revoke and enrolled need CEREBRO_DATABASE_URL or CEREBRO_DATABASE_URL_FILE; under `cerebro up`:
    export CEREBRO_DATABASE_URL_FILE=~/.cerebro/secrets/database_url"""


def connection_options() -> argparse.ArgumentParser:
    """The options of every gateway command: where the gateway is, how long a call may take, --json."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", help="gateway host:port (default: $CEREBRO_GATEWAY_TARGET or localhost:50051)")
    common.add_argument("--timeout", type=float, help="seconds a call may take (default: 10)")
    common.add_argument("--json", action="store_true", help="print the response as canonical protobuf JSON")
    return common


def add_parsers(commands: SubParsers) -> SubParsers:
    """Register the gateway commands on the subcommands of the `cerebro` parser; returns the actions of
    `cerebro instances`, which the server parts add the operator's enrolment actions to."""
    common = connection_options()
    signing = argparse.ArgumentParser(add_help=False)
    signing.add_argument("--key-file", type=Path, help="the agent's Ed25519 key (default: $CEREBRO_AGENT_KEY_FILE)")
    signing.add_argument("--instance-id", help="the agent's instance id (default: $CEREBRO_AGENT_INSTANCE_ID)")

    def add(name: str, help: str, parents: list[argparse.ArgumentParser], epilog: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=epilog,
            parents=parents,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(run=run)
        return parser

    remember = add(
        "remember", "store an episode in the caller's memory", [common], REMEMBER_HELP + "\n\n" + CONNECTION_HELP
    )
    remember.add_argument("content", nargs="?", help="what happened")
    remember.add_argument(
        "--from-jsonl", type=Path, metavar="FILE", help="store the episodes of FILE instead, one JSON object a line"
    )
    remember.add_argument(
        "--batch-size",
        type=int,
        default=500,
        metavar="N",
        help=f"episodes per call with --from-jsonl, 1 to {MAX_BATCH} (default: 500)",
    )
    remember.add_argument("--tag", dest="tags", action="append", default=[], help="a tag (repeatable)")
    remember.add_argument("--importance", type=float, help="0 to 1 (default: 0.5)")

    recall = add("recall", "find episodes by text and meaning", [common], RECALL_HELP + "\n\n" + CONNECTION_HELP)
    recall.add_argument("query", help='words (any of them), "a required phrase", -excluded words')
    recall.add_argument("--top-k", type=int, default=10, metavar="K", help="most hits (default: 10)")
    recall.add_argument("--namespace", default="", help="another namespace that granted the caller read access")
    recall.add_argument("--mode", choices=sorted(SEARCH_MODES), default="hybrid", help="default: hybrid")
    recall.add_argument("--since", type=moment, metavar="WHEN", help="only episodes that happened at or after WHEN")
    recall.add_argument("--until", type=moment, metavar="WHEN", help="only episodes that happened before WHEN")
    recall.add_argument(
        "--recency-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="0 to 1: how much newer episodes are favoured (default: 0)",
    )
    recall.add_argument(
        "--half-life", type=duration, metavar="AGE", help="age at which recency counts half (default: 7d)"
    )
    recall.add_argument(
        "--min-score", type=float, metavar="S", help="smallest cosine similarity of a vector candidate, 0 to 1"
    )
    recall.add_argument(
        "--context", type=int, default=0, metavar="N", help="show N episodes before and after each hit (0 to 10)"
    )

    # The options follow the action (`cerebro blocks show persona --json`); bare `cerebro blocks` lists.
    blocks = add("blocks", "list, show or update memory blocks, or list their revisions", [], CONNECTION_HELP)
    blocks.set_defaults(target=None, timeout=None, json=False)
    actions = blocks.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every block (the default)", parents=[common])
    show = actions.add_parser("show", help="one block with its value", parents=[common])
    show.add_argument("label")
    update = actions.add_parser("update", help="change a block's value or description", parents=[common])
    update.add_argument("label")
    update.add_argument("--value")
    update.add_argument("--description")
    update.add_argument("--expected-version", type=int, help="change only if the block has this version")
    revisions = actions.add_parser("revisions", help="a block's versions, newest first", parents=[common])
    revisions.add_argument("label")
    revisions.add_argument("--namespace", default="", help="another namespace that granted the caller read access")

    memory.add_parsers(add, common, CONNECTION_HELP)

    instances = add(
        "instances",
        "list the agent instances connected to the mesh, or enrol their keys",
        [common],
        CONNECTION_HELP + "\n\n" + ENROLMENT_HELP,
    )
    instances.add_argument("--region", default="")
    instances.add_argument("--capability", default="")
    instances.add_argument("--all", action="store_true", help="also the mesh's own service replicas")
    # Without an action, `cerebro instances` lists the connected instances through the gateway.
    instance_actions = instances.add_subparsers(dest="action", metavar="ACTION")
    public = instance_actions.add_parser(
        "public-key", help="print the public half of this agent's key (created if missing)"
    )
    public.add_argument("--key-file", type=Path, help="the agent's Ed25519 key (default: $CEREBRO_AGENT_KEY_FILE)")
    public.set_defaults(run=print_public_key)

    join = add("join", "join the instance network as the agent the API key is bound to", [common], JOIN_HELP)
    join.add_argument("name", help="the instance name the API key is bound to, e.g. NEXUS")
    join.add_argument("--key-file", type=Path, help="the agent's Ed25519 key (default: $CEREBRO_AGENT_KEY_FILE)")
    join.add_argument("--region", default="local", help="where the agent runs (default: local)")
    join.add_argument("--capability", dest="capabilities", action="append", default=[], help="repeatable")
    join.add_argument("--no-voting", action="store_true", help="do not join the electorate of new proposals")
    join.add_argument("--specialized", action="store_true", help="register as SPECIALIZED instead of PRIMARY")

    epilog = CONNECTION_HELP + "\n\n" + SIGNING_HELP
    propose = add("propose", "put a topic to a 2/3-quorum vote, signed by this agent", [common, signing], epilog)
    propose.add_argument("topic")
    propose.add_argument("--option", dest="options", action="append", default=[], help="repeatable; yes/no if none")
    propose.add_argument("--minutes", type=float, default=5.0, help="how long votes are accepted (default: 5)")

    vote = add("vote", "vote on a proposal, signed by this agent", [common, signing], epilog)
    vote.add_argument("proposal_id")
    vote.add_argument("choice")
    return instance_actions


def run(args: argparse.Namespace) -> int:
    """Run one gateway command; the exit status."""
    try:
        settings = ClientSettings.from_env(target=args.target, timeout_seconds=args.timeout)
        if args.command == "remember":
            _check_remember(args)
        signer = _signer(args) if args.command in ("propose", "vote") else None
        if args.command == "join":
            args.key_file = _key_file(args)
    except (ConfigError, ValueError) as error:
        print(f"cerebro {args.command}: {error}", file=sys.stderr)
        return 2
    if args.command == "remember" and args.from_jsonl is not None:
        return asyncio.run(remember_file(settings, args.from_jsonl, args.batch_size, progress=not args.json))
    call, show = _handlers(args)
    try:
        response = asyncio.run(_call(settings, signer, call))
    except CerebroError as error:
        print(f"cerebro {args.command}: {error.one_line()}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(json_format.MessageToDict(response), indent=2, ensure_ascii=False))
    else:
        show(response)
    return 0


Call = Callable[[AsyncCerebroClient], Awaitable[Message]]


def _check_remember(args: argparse.Namespace) -> None:
    if (args.content is None) == (args.from_jsonl is None):
        raise ValueError("needs either CONTENT or --from-jsonl FILE")
    if args.from_jsonl is not None and (args.tags or args.importance is not None):
        raise ValueError("--tag and --importance go in each line of the --from-jsonl file")
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise ValueError(f"--batch-size must be between 1 and {MAX_BATCH}")


async def _call(settings: ClientSettings, signer: AgentSigner | None, call: Call) -> Message:
    async with AsyncCerebroClient(settings, signer=signer) as client:
        return await call(client)


def print_public_key(args: argparse.Namespace) -> int:
    """`cerebro instances public-key`: the public half of the agent's key (PEM), for the operator to enrol."""
    try:
        key = load_or_create_identity_key(_key_file(args))
    except ValueError as error:
        print(f"cerebro instances public-key: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"cerebro instances public-key: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode())
    return 0


def _key_file(args: argparse.Namespace) -> Path:
    key_file = args.key_file or Env().path("AGENT_KEY_FILE")
    if key_file is None:
        raise ValueError("needs --key-file (or CEREBRO_AGENT_KEY_FILE)")
    return key_file


def _signer(args: argparse.Namespace) -> AgentSigner:
    key_file = _key_file(args)
    instance_id = args.instance_id or Env().str("AGENT_INSTANCE_ID")
    if instance_id is None:
        raise ValueError("needs --instance-id (or CEREBRO_AGENT_INSTANCE_ID); `cerebro join` prints it")
    if not key_file.exists():
        raise ValueError(f"{key_file}: no such key file")
    return AgentSigner.from_key_file(key_file, instance_id)


def _handlers(args: argparse.Namespace) -> tuple[Call, Callable[[Any], None]]:
    """What to call on the gateway, and how to show its response to people."""
    if args.command == "remember":
        return (
            lambda client: client.remember(args.content, tags=args.tags, importance=args.importance),
            lambda response: _show_episode(response.episode),
        )
    if args.command == "recall":
        return (lambda client: _recall(client, args), _show_hits)
    if args.command == "blocks":
        if args.action == "show":
            return (lambda client: client.get_block(args.label), lambda response: _show_block(response.block))
        if args.action == "update":
            return (
                lambda client: client.update_block(
                    args.label, value=args.value, description=args.description, expected_version=args.expected_version
                ),
                lambda response: _show_block(response.block),
            )
        if args.action == "revisions":
            return (
                lambda client: client.list_block_revisions(args.label, page_size=1000, namespace=args.namespace),
                _show_revisions,
            )
        return (lambda client: client.list_blocks(page_size=1000), _show_blocks)
    if args.command in memory.COMMANDS:
        return memory.handlers(args)
    if args.command == "instances":
        return (
            lambda client: client.connected_instances(
                region=args.region, capability=args.capability, include_service_replicas=args.all
            ),
            _show_instances,
        )
    if args.command == "join":
        return (
            lambda client: client.register_instance(
                args.name,
                args.key_file,
                region=args.region,
                capabilities=args.capabilities,
                voting=not args.no_voting,
                specialized=args.specialized,
                keep_lease=False,
            ),
            _show_joined,
        )
    if args.command == "propose":
        return (
            lambda client: client.propose(args.topic, options=args.options, deadline=_deadline(args.minutes)),
            lambda response: _show_proposal(response.proposal),
        )
    return (
        lambda client: client.vote(args.proposal_id, args.choice),
        lambda response: _show_proposal(response.proposal),
    )


def _recall(client: AsyncCerebroClient, args: argparse.Namespace) -> Awaitable[pb.RecallResponse]:
    weighting = episodes_pb2.SearchWeighting(recency_weight=args.recency_weight)
    if args.half_life is not None:
        weighting.recency_half_life.FromTimedelta(args.half_life)
    return client.recall(
        args.query,
        mode=SEARCH_MODES[args.mode],
        filter=episodes_pb2.EpisodeFilter(start_time=timestamp(args.since), end_time=timestamp(args.until)),
        top_k=args.top_k,
        weighting=weighting,
        namespace=args.namespace,
        min_score=args.min_score,
        context_window=args.context,
    )


def _deadline(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def _show_episode(episode: Any) -> None:
    print_fields(
        [
            ("episode", episode.episode_id),
            ("namespace", episode.namespace),
            ("occurred", when(episode.occur_time)),
            ("tags", ", ".join(episode.tags) or "-"),
            ("content", cell(episode.content)),
        ]
    )


def _show_hits(response: pb.RecallResponse) -> None:
    rows = [
        [
            str(rank),
            f"{hit.fused_score:.3f}",
            _ranks(hit),
            when(hit.episode.occur_time),
            ", ".join(hit.episode.tags),
            cell(hit.episode.content),
        ]
        for rank, hit in enumerate(response.hits, start=1)
    ]
    print_table(["#", "score", "text/vector", "occurred", "tags", "content"], rows)
    for rank, hit in enumerate(response.hits, start=1):
        if hit.context:
            print(f"\n#{rank} in context:")
            timeline = sorted([*hit.context, hit.episode], key=_timeline_key)
            print_table(
                ["", "occurred", "content"],
                [
                    [">" if episode is hit.episode else "", when(episode.occur_time), cell(episode.content)]
                    for episode in timeline
                ],
            )
    if response.vector_search_skipped:
        print("(text search only: the embedder was unavailable)")


def _timeline_key(episode: Any) -> tuple[int, int, str]:
    return (episode.occur_time.seconds, episode.occur_time.nanos, episode.episode_id)


def _ranks(hit: Any) -> str:
    """The hit's place in each ranking: text rank / vector rank, - when not in it."""
    return f"{hit.text_rank or '-'}/{hit.vector_rank or '-'}"


def _show_blocks(response: pb.ListMemoryBlocksResponse) -> None:
    rows = [
        [
            block.label,
            str(block.version),
            "yes" if block.read_only else "no",
            str(len(block.value)),
            cell(block.description),
        ]
        for block in response.blocks
    ]
    print_table(["label", "version", "read-only", "chars", "description"], rows)


def _show_revisions(response: pb.ListMemoryBlockRevisionsResponse) -> None:
    rows = [[str(r.version), when(r.create_time), cell(r.value)] for r in response.revisions]
    print_table(["version", "created", "value"], rows)


def _show_block(block: Any) -> None:
    print_fields(
        [
            ("label", block.label),
            ("version", str(block.version)),
            ("read-only", "yes" if block.read_only else "no"),
            ("char limit", str(block.char_limit) if block.char_limit else "-"),
            ("description", block.description or "-"),
            ("updated", when(block.update_time)),
        ]
    )
    print()
    print(block.value)


def _show_instances(response: pb.ListConnectedInstancesResponse) -> None:
    rows = [
        [
            instance.instance_name,
            instance.instance_id,
            INSTANCE_TYPES.get(instance.instance_type, "?"),
            instance.region,
            INSTANCE_STATUSES.get(instance.status, "?"),
            "yes" if instance.voting else "no",
            ", ".join(instance.capabilities),
        ]
        for instance in response.instances
    ]
    print_table(["name", "instance id", "type", "region", "status", "voting", "capabilities"], rows)


def _show_joined(response: pb.RegisterInstanceResponse) -> None:
    instance = response.instance
    print_fields(
        [
            ("instance", instance.instance_id),
            ("name", instance.instance_name),
            ("joined", "now (new instance)" if response.created else "again (same key, same id)"),
            ("type", INSTANCE_TYPES.get(instance.instance_type, "?")),
            ("region", instance.region),
            ("voting", "yes" if instance.voting else "no"),
            ("lease", f"{response.lease_ttl_seconds:g} s, until {when(instance.lease_expire_time)}"),
        ]
    )
    print(f"\nexport CEREBRO_AGENT_INSTANCE_ID={instance.instance_id}")


def _show_proposal(proposal: consensus_pb2.Proposal) -> None:
    tally = ", ".join(f"{entry.option}={entry.votes}" for entry in proposal.tally) or "-"
    print_fields(
        [
            ("proposal", proposal.proposal_id),
            ("topic", cell(proposal.topic)),
            ("state", PROPOSAL_STATES.get(proposal.state, "?")),
            ("decided", proposal.decided_option or "-"),
            ("tally", tally),
            ("quorum", f"{proposal.quorum} of {proposal.electorate_size}"),
            ("deadline", when(proposal.deadline)),
        ]
    )
