"""What every tool shares: its annotations, and the response it returns as protobuf's JSON."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

JsonObject = dict[str, Any]


def as_json(message: Message) -> JsonObject:
    """The response with the proto's own (snake_case) field names, as the tools' arguments are spelled."""
    result: JsonObject = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result
