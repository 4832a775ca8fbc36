"""The client's channel to the gateway: message limits, keepalive, and retries of idempotent calls only.

Retries live in gRPC's service config, so each attempt respects the call's overall deadline. A call is
in IDEMPOTENT_METHODS when repeating it cannot write twice: reads, creates that carry a request_id
(the client always sends one), replacements that set a value, and the same signed vote again.
UpdateMemoryBlock, UpdateIdentityState and ReportTaskProgress are left out: each applied attempt bumps
a version. AcknowledgeTask, CompleteTask and FailTask repeated with the same values change nothing.
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from cerebro.channel_options import CHANNEL_OPTIONS
from cerebro.client.settings import ClientSettings

SERVICE = "cerebro.gateway.v1.AgentGateway"

IDEMPOTENT_METHODS = (
    "Remember",
    "RememberBatch",
    "Recall",
    "ListRecentEpisodes",
    "ListWorkingMemoryItems",
    "GetWorkingMemoryItem",
    "PutWorkingMemoryItem",
    "ListMemoryBlocks",
    "GetMemoryBlock",
    "CreateMemoryBlock",
    "CreateCheckpoint",
    "RestoreCheckpoint",
    "GetIdentityState",
    "Heartbeat",
    "UpsertKnowledge",
    "SearchKnowledge",
    "ListConnectedInstances",
    "Propose",
    "Vote",
    "GetDecision",
    "WatchDecisions",
    "PublishLearning",
    "SubscribeLearnings",
    "AcknowledgeLearnings",
    "GetSharedEmotionalState",
    "UpdateSharedEmotionalState",
    "DistributeTask",
    "WatchTasks",
    "GetTask",
    "ListTasks",
    "AcknowledgeTask",
    "CompleteTask",
    "FailTask",
    "GetStats",
    "GetHealth",
)

RETRY_POLICY = {
    "maxAttempts": 5,
    "initialBackoff": "0.2s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config() -> str:
    retried = {
        "name": [{"service": SERVICE, "method": method} for method in IDEMPOTENT_METHODS],
        "retryPolicy": RETRY_POLICY,
    }
    return json.dumps({"methodConfig": [retried]})


def open_gateway_channel(settings: ClientSettings) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [
        *CHANNEL_OPTIONS,
        ("grpc.service_config", service_config()),
        ("grpc.enable_retries", 1),
    ]
    if settings.tls is None:
        return grpc.aio.insecure_channel(settings.target, options=options)
    return grpc.aio.secure_channel(settings.target, settings.tls.credentials(), options=options)
