"""The task inbox as MCP tools: the tasks distributed to this agent's instance, taken on, reported and
finished. DistributeTask picks the agent; WatchTasks streams tasks to agents that hold a stream open,
while an MCP agent, which answers calls, asks for them with `list_tasks`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from cerebro.gateway.v1 import resources_pb2
from cerebro.mcp.errors import tool_errors
from cerebro.mcp.gateway import current_client
from cerebro.mcp.results import READ_ONLY, WRITES, JsonObject, as_json

TaskStateName = Literal["pending", "assigned", "acknowledged", "succeeded", "failed"]
TASK_STATES: dict[str, resources_pb2.TaskState.ValueType] = {
    "pending": resources_pb2.TASK_STATE_PENDING,
    "assigned": resources_pb2.TASK_STATE_ASSIGNED,
    "acknowledged": resources_pb2.TASK_STATE_ACKNOWLEDGED,
    "succeeded": resources_pb2.TASK_STATE_SUCCEEDED,
    "failed": resources_pb2.TASK_STATE_FAILED,
}
TaskId = Annotated[str, Field(description="the task's id, from list_tasks")]


def add_task_tools(server: MCPServer[Any]) -> None:
    @server.tool(annotations=READ_ONLY)
    async def list_tasks(
        states: Annotated[
            list[TaskStateName] | None, Field(description="only tasks in these states; every state when omitted")
        ] = None,
        distributed: Annotated[bool, Field(description="the tasks you distributed, not those assigned to you")] = False,
        page_size: Annotated[int, Field(description="most tasks (1 to 1000)")] = 20,
        page_token: Annotated[str, Field(description="next_page_token of the previous page")] = "",
    ) -> JsonObject:
        """Your task inbox: the tasks distributed to you (or by you), newest first."""
        with tool_errors():
            response = await current_client().list_tasks(
                distributed=distributed,
                states=[TASK_STATES[state] for state in states or []],
                page_size=page_size,
                page_token=page_token,
            )
        return as_json(response)

    @server.tool(annotations=READ_ONLY)
    async def get_task(task_id: TaskId) -> JsonObject:
        """One task: what is to be done, its state, progress and result."""
        with tool_errors():
            response = await current_client().get_task(task_id)
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def acknowledge_task(task_id: TaskId) -> JsonObject:
        """Take a task assigned to you on: it is yours to do, and not delivered again."""
        with tool_errors():
            response = await current_client().acknowledge_task(task_id)
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def report_task_progress(
        task_id: TaskId,
        progress: Annotated[float | None, Field(description="how far it is, 0 to 1")] = None,
        status_message: Annotated[str, Field(description="what is happening")] = "",
    ) -> JsonObject:
        """Say how far a task you acknowledged is."""
        with tool_errors():
            response = await current_client().report_task_progress(
                task_id, progress=progress, status_message=status_message
            )
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def complete_task(
        task_id: TaskId,
        result: Annotated[JsonObject | None, Field(description="what it produced, any JSON object")] = None,
    ) -> JsonObject:
        """Finish a task you acknowledged, with its result."""
        with tool_errors():
            response = await current_client().complete_task(task_id, result=result)
        return as_json(response)

    @server.tool(annotations=WRITES)
    async def fail_task(
        task_id: TaskId,
        error_message: Annotated[str, Field(description="why it could not be done")],
        result: Annotated[JsonObject | None, Field(description="what it produced anyway, any JSON object")] = None,
    ) -> JsonObject:
        """Give up a task you acknowledged, saying why: it goes to another agent that can do it and has not
        failed it, or ends FAILED when there is none."""
        with tool_errors():
            response = await current_client().fail_task(task_id, error_message, result=result)
        return as_json(response)
