"""The gateway's route table: every AgentGateway method on its annotated path (document 004's paths)."""

from __future__ import annotations

from google.api import annotations_pb2

from services.gateway.access import SERVICE
from services.gateway.http.gateway_api import route_table

# The paths the HTTP face serves, by AgentGateway method: document 004's paths, then the rest of the memory model.
SERVED = {
    ("POST", "/memory/action"): "Remember",
    ("POST", "/memory/action:batch"): "RememberBatch",
    ("POST", "/memory/search"): "Recall",
    ("GET", "/memory/episodic/recent"): "ListRecentEpisodes",
    ("PATCH", "/memory/episodic/{episode.episode_id}"): "UpdateEpisode",
    ("DELETE", "/memory/episodic/{episode_id}"): "DeleteEpisode",
    ("POST", "/memory/episodic:forget"): "ForgetEpisodes",
    ("POST", "/memory/projects"): "CreateProject",
    ("GET", "/memory/projects/{project_id}"): "GetProject",
    ("GET", "/memory/projects"): "ListProjects",
    ("POST", "/memory/projects/{project_id}:archive"): "ArchiveProject",
    ("GET", "/memory/working"): "ListWorkingMemoryItems",
    ("GET", "/memory/working/{item_id}"): "GetWorkingMemoryItem",
    ("PUT", "/memory/working"): "PutWorkingMemoryItem",
    ("DELETE", "/memory/working/{item_id}"): "DeleteWorkingMemoryItem",
    ("GET", "/memory/blocks"): "ListMemoryBlocks",
    ("GET", "/memory/blocks/{label}"): "GetMemoryBlock",
    ("POST", "/memory/blocks"): "CreateMemoryBlock",
    ("PATCH", "/memory/blocks/{block.label}"): "UpdateMemoryBlock",
    ("GET", "/memory/blocks/{label}/revisions"): "ListMemoryBlockRevisions",
    ("POST", "/memory/checkpoints"): "CreateCheckpoint",
    ("POST", "/memory/checkpoints:restore"): "RestoreCheckpoint",
    ("GET", "/memory/checkpoints"): "ListCheckpoints",
    ("GET", "/memory/checkpoints/{checkpoint_id}"): "GetCheckpoint",
    ("GET", "/memory/identity"): "GetIdentityState",
    ("PATCH", "/memory/identity"): "UpdateIdentityState",
    ("POST", "/memory/identity:heartbeat"): "Heartbeat",
    ("POST", "/memory/semantic"): "UpsertKnowledge",
    ("GET", "/memory/semantic"): "SearchKnowledge",
    ("GET", "/memory/semantic/{semantic_memory_id}"): "GetKnowledge",
    ("GET", "/memory/semantic:lookup"): "LookupKnowledge",
    ("GET", "/memory/semantic:list"): "ListKnowledge",
    ("DELETE", "/memory/semantic/{semantic_memory_id}"): "DeleteKnowledge",
    ("GET", "/neural-mesh/connected-agents"): "ListConnectedInstances",
    ("POST", "/neural-mesh/instances"): "RegisterInstance",
    ("POST", "/neural-mesh/instances/{instance_id}:renewLease"): "RenewInstanceLease",
    ("POST", "/neural-mesh/instances/{instance_id}:deregister"): "DeregisterInstance",
    ("POST", "/neural-mesh/consensus"): "Propose",
    ("POST", "/neural-mesh/consensus/{proposal_id}:vote"): "Vote",
    ("GET", "/neural-mesh/consensus/{proposal_id}"): "GetDecision",
    ("GET", "/neural-mesh/consensus:watch"): "WatchDecisions",
    ("POST", "/neural-mesh/cross-learning"): "PublishLearning",
    ("GET", "/neural-mesh/cross-learning:subscribe"): "SubscribeLearnings",
    ("POST", "/neural-mesh/cross-learning:acknowledge"): "AcknowledgeLearnings",
    ("GET", "/neural-mesh/emotional-sync"): "GetSharedEmotionalState",
    ("POST", "/neural-mesh/emotional-sync"): "UpdateSharedEmotionalState",
    ("GET", "/neural-mesh/emotional-sync:watch"): "WatchSharedEmotionalState",
    ("POST", "/neural-mesh/task-distribute"): "DistributeTask",
    ("GET", "/neural-mesh/tasks:watch"): "WatchTasks",
    ("GET", "/neural-mesh/tasks/{task_id}"): "GetTask",
    ("GET", "/neural-mesh/tasks"): "ListTasks",
    ("POST", "/neural-mesh/tasks/{task_id}:acknowledge"): "AcknowledgeTask",
    ("POST", "/neural-mesh/tasks/{task_id}:reportProgress"): "ReportTaskProgress",
    ("POST", "/neural-mesh/tasks/{task_id}:complete"): "CompleteTask",
    ("POST", "/neural-mesh/tasks/{task_id}:fail"): "FailTask",
    ("GET", "/stats"): "GetStats",
    ("GET", "/health"): "GetHealth",
}


def test_every_agent_gateway_method_is_served_on_its_annotated_path() -> None:
    table = route_table()
    served = {(route.http_method, route.template.text): route.method.name for route in table.routes}
    assert served == SERVED
    assert set(served.values()) == {method.name for method in SERVICE.methods}
    for route in table.routes:
        rule = route.method.GetOptions().Extensions[annotations_pb2.http]
        assert getattr(rule, route.http_method.lower()) == route.template.text
        assert route.body == rule.body
