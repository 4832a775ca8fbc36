"""The MCP face of the gateway: its tools (remember, recall, blocks, checkpoints, decisions, learnings, and
the task inbox from cerebro.mcp.tasks) and its resources (the memory blocks, as ``cerebro://blocks/<label>``).

Each tool is one gateway call through the client bound to the message (cerebro.mcp.gateway) and returns
the response in protobuf's JSON (snake_case field names). The gateway validates every argument; its
field violations come back as the tool's error, named as the tool's arguments are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Annotated, Any, Literal

from google.protobuf import timestamp_pb2
from mcp.server.mcpserver import MCPServer
from mcp.types import Resource
from pydantic import Field

from cerebro.mcp.errors import listing_errors, resource_errors, tool_errors
from cerebro.mcp.gateway import GatewayClients, binding_middleware, current_client
from cerebro.mcp.results import READ_ONLY, WRITES, JsonObject, as_json
from cerebro.mcp.tasks import add_task_tools
from cerebro.memory.v1 import episodes_pb2

BLOCK_URI_PREFIX = "cerebro://blocks/"
SEARCH_MODES = {
    "hybrid": episodes_pb2.SEARCH_MODE_HYBRID,
    "text": episodes_pb2.SEARCH_MODE_TEXT,
    "vector": episodes_pb2.SEARCH_MODE_VECTOR,
}
# Enough for every block of a namespace in one page (the memory service caps pages at this size).
BLOCKS_PAGE_SIZE = 1000

INSTRUCTIONS = """\
Cerebro is your long-term memory, shared with the other agent instances of your mesh. `remember` what
happened and what you learned; `recall` it later by words and meaning (with filters on tags, project,
time and importance); `recent_episodes` lists the latest. Memory blocks (persona, goals, ...) are small
named texts you read and rewrite (`get_block`, `update_block`; also resources cerebro://blocks/<label>).
`checkpoint` saves your working state, `restore_checkpoint` brings it back. Decisions are 2/3-quorum
votes (`propose`, `vote`, `get_decision`) when this server has your signing key. `publish_learning`
shares a learning with every other instance. Tasks distributed to you wait in `list_tasks`: acknowledge
one, report progress, then complete or fail it."""


Tags = Annotated[list[str] | None, Field(description="only episodes carrying every one of these tags")]
ProjectId = Annotated[str, Field(description="only episodes of this project (UUID)")]
Since = Annotated[
    datetime | None, Field(description="only episodes that happened at or after this ISO 8601 time (UTC if no zone)")
]
Until = Annotated[datetime | None, Field(description="only episodes that happened before this ISO 8601 time")]
Namespace = Annotated[
    str, Field(description="another namespace whose owner granted you read access; your own when empty")
]

# The request paths the gateway reports, as the tools' arguments are called.
FILTER_RENAMES = {
    "filter.start_time": "since",
    "filter.end_time": "until",
    "filter.tags": "tags",
    "filter.project_id": "project_id",
    "filter.min_importance": "min_importance",
}
RECALL_RENAMES = {
    **FILTER_RENAMES,
    "weighting.recency_weight": "recency_weight",
    "weighting.importance_weight": "importance_weight",
}
BLOCK_RENAMES = {"block.label": "label", "block.value": "value", "block.description": "description"}
CHECKPOINT_RENAMES = {"checkpoint.checkpoint_type": "checkpoint_type", "checkpoint.state_data": "state_data"}
PROPOSE_RENAMES = {"deadline": "minutes"}
LEARNING_RENAMES = {
    "learning.concept": "concept",
    "learning.definition": "definition",
    "learning.relationships": "relationships",
    "learning.confidence": "confidence",
}


class CerebroMCPServer(MCPServer[Any]):
    """MCPServer whose resource list also holds the caller's memory blocks, read from the gateway."""

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        with listing_errors("the memory blocks"):
            response = await current_client().list_blocks(page_size=BLOCKS_PAGE_SIZE)
        blocks = [
            Resource(
                uri=block_uri(block.label),
                name=block.label,
                description=block.description or None,
                mime_type="text/plain",
                size=len(block.value.encode()),
            )
            for block in response.blocks
        ]
        return [*listed, *blocks]


def block_uri(label: str) -> str:
    return BLOCK_URI_PREFIX + label


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def _filter(
    tags: list[str] | None,
    project_id: str,
    since: datetime | None,
    until: datetime | None,
    min_importance: float | None,
) -> episodes_pb2.EpisodeFilter:
    return episodes_pb2.EpisodeFilter(
        tags=tags or [],
        project_id=project_id,
        start_time=_timestamp(since),
        end_time=_timestamp(until),
        min_importance=min_importance,
    )


def build_server(clients: GatewayClients, *, signing: bool) -> CerebroMCPServer:
    """The MCP server over ``clients``; ``signing``: this server holds the agent's key, so it offers
    propose and vote (the gateway forwards what the agent signs and never signs for it)."""
    server = CerebroMCPServer(
        name="cerebro",
        title="Cerebro memory",
        instructions=INSTRUCTIONS,
        version=version("cerebro"),
        middleware=[binding_middleware(clients)],
        # The SDK logs each session's start and end at INFO; a failed tool call is already the caller's answer.
        log_level="WARNING",
    )

    @server.tool(annotations=WRITES)
    async def remember(
        content: Annotated[str, Field(description="what happened, in words")],
        tags: Annotated[list[str] | None, Field(description="labels to find it by later")] = None,
        importance: Annotated[float | None, Field(description="0 to 1 (default 0.5)")] = None,
        metadata: Annotated[JsonObject | None, Field(description="any JSON object kept with it")] = None,
        project_id: Annotated[str, Field(description="the project (UUID) it belongs to")] = "",
    ) -> JsonObject:
        """Store an episode in your long-term memory."""
        with tool_errors():
            response = await current_client().remember(
                content, tags=tags or [], importance=importance, metadata=metadata, project_id=project_id
            )
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def recall(
        query: Annotated[str, Field(description='words (any of them), "a required phrase", -excluded words')],
        top_k: Annotated[int, Field(description="most hits")] = 10,
        mode: Literal["hybrid", "text", "vector"] = "hybrid",
        tags: Tags = None,
        project_id: ProjectId = "",
        since: Since = None,
        until: Until = None,
        min_importance: Annotated[float | None, Field(description="only episodes at least this important")] = None,
        min_score: Annotated[
            float | None, Field(description="smallest cosine similarity of a vector candidate, 0 to 1")
        ] = None,
        recency_weight: Annotated[float, Field(description="0 to 1: how much newer episodes are favoured")] = 0.0,
        importance_weight: Annotated[float, Field(description="0 to 1: how much important ones are")] = 0.0,
        context_window: Annotated[int, Field(description="episodes before and after each hit (0 to 10)")] = 0,
        namespace: Namespace = "",
    ) -> JsonObject:
        """Find episodes by words and meaning, best first."""
        with tool_errors(RECALL_RENAMES):
            response = await current_client().recall(
                query,
                mode=SEARCH_MODES[mode],
                filter=_filter(tags, project_id, since, until, min_importance),
                top_k=top_k,
                weighting=episodes_pb2.SearchWeighting(
                    recency_weight=recency_weight, importance_weight=importance_weight
                ),
                namespace=namespace,
                min_score=min_score,
                context_window=context_window,
            )
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def recent_episodes(
        page_size: Annotated[int, Field(description="most episodes")] = 20,
        page_token: Annotated[str, Field(description="next_page_token of the previous page")] = "",
        tags: Tags = None,
        project_id: ProjectId = "",
        since: Since = None,
        until: Until = None,
        namespace: Namespace = "",
    ) -> JsonObject:
        """The latest episodes, newest first."""
        with tool_errors(FILTER_RENAMES):
            response = await current_client().recent_episodes(
                filter=_filter(tags, project_id, since, until, None),
                page_size=page_size,
                page_token=page_token,
                namespace=namespace,
            )
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def list_blocks(namespace: Namespace = "") -> JsonObject:
        """Every memory block (label, description, value, version)."""
        with tool_errors():
            response = await current_client().list_blocks(page_size=BLOCKS_PAGE_SIZE, namespace=namespace)
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def get_block(label: str, namespace: Namespace = "") -> JsonObject:
        """One memory block, with its value and version."""
        with tool_errors():
            response = await current_client().get_block(label, namespace=namespace)
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def update_block(
        label: str,
        value: Annotated[str | None, Field(description="the new text; unchanged when omitted")] = None,
        description: Annotated[str | None, Field(description="the new description; unchanged when omitted")] = None,
        expected_version: Annotated[
            int | None, Field(description="change it only if the block still has this version")
        ] = None,
    ) -> JsonObject:
        """Rewrite a memory block's value or description."""
        with tool_errors(BLOCK_RENAMES):
            response = await current_client().update_block(
                label, value=value, description=description, expected_version=expected_version
            )
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def checkpoint(
        checkpoint_type: Annotated[str, Field(description="what kind of checkpoint, e.g. session_end")],
        state_data: Annotated[JsonObject, Field(description="the state to save, any JSON object")],
        metadata: JsonObject | None = None,
    ) -> JsonObject:
        """Save your current working state as a checkpoint."""
        with tool_errors(CHECKPOINT_RENAMES):
            response = await current_client().create_checkpoint(checkpoint_type, state_data, metadata=metadata)
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def restore_checkpoint(
        checkpoint_id: Annotated[str, Field(description="the checkpoint to restore; your latest when empty")] = "",
    ) -> JsonObject:
        """A saved checkpoint with its state, and how much your memory blocks changed since."""
        with tool_errors():
            response = await current_client().restore_checkpoint(checkpoint_id)
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def get_decision(proposal_id: str) -> JsonObject:
        """A proposal: its state, tally, decided option and every signed vote."""
        with tool_errors():
            response = await current_client().get_decision(proposal_id)
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def publish_learning(
        concept: Annotated[str, Field(description="what was learned, in a few words")],
        definition: Annotated[str, Field(description="the learning itself")] = "",
        relationships: Annotated[JsonObject | None, Field(description="links to other concepts, any JSON")] = None,
        confidence: Annotated[float | None, Field(description="0 to 1")] = None,
    ) -> JsonObject:
        """Share a learning with every other agent instance of the mesh."""
        with tool_errors(LEARNING_RENAMES):
            response = await current_client().publish_learning(
                concept, definition=definition, relationships=relationships, confidence=confidence
            )
        return as_json(response)

    if signing:

        @server.tool(annotations=WRITES)
        async def propose(
            topic: Annotated[str, Field(description="the question put to the vote")],
            options: Annotated[list[str] | None, Field(description="the choices; yes and no when omitted")] = None,
            minutes: Annotated[float, Field(description="how long votes are accepted")] = 5.0,
        ) -> JsonObject:
            """Put a topic to a 2/3-quorum vote of the agent instances, signed by you."""
            with tool_errors(PROPOSE_RENAMES):
                response = await current_client().propose(
                    topic, options=options or [], deadline=datetime.now(UTC) + timedelta(minutes=minutes)
                )
            return as_json(response)

        @server.tool(annotations=WRITES)
        async def vote(proposal_id: str, choice: str) -> JsonObject:
            """Vote on a proposal, signed by you (the same vote again changes nothing)."""
            with tool_errors():
                response = await current_client().vote(proposal_id, choice)
            return as_json(response)

    add_task_tools(server)

    @server.resource(BLOCK_URI_PREFIX + "{label}", name="memory block", mime_type="text/plain")
    async def block(label: str) -> str:
        """A memory block's value."""
        with resource_errors(block_uri(label)):
            response = await current_client().get_block(label)
        return response.block.value

    return server
