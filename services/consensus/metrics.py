"""The consensus metrics the dashboard reads: how proposals finish, and the instance network by status and region."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge

PROPOSALS_FINISHED = Counter(
    "consensus_proposals_finished",
    "Proposals that left the open state, counted once by the replica that committed the outcome.",
    ["outcome"],
)
INSTANCES = Gauge(
    "consensus_instances",
    "Registered instances by status (active, standby, offline) and region, as of the last sweep.",
    ["status", "region"],
)

OUTCOMES = ("decided", "rejected", "expired")
for _outcome in OUTCOMES:
    PROPOSALS_FINISHED.labels(outcome=_outcome)  # every outcome is exported from the start, at 0

_instance_labels: set[tuple[str, str]] = set()


def proposal_finished(outcome: str, count: int = 1) -> None:
    """Counts ``count`` proposals whose ``outcome`` was just committed."""
    if count:
        PROPOSALS_FINISHED.labels(outcome=outcome).inc(count)


def set_instances(counts: Mapping[tuple[str, str], int]) -> None:
    """Sets the instance gauge to ``counts`` by (status, region); combinations no longer seen go back to 0."""
    for status, region in _instance_labels - counts.keys():
        INSTANCES.labels(status=status, region=region).set(0)
    for (status, region), count in counts.items():
        INSTANCES.labels(status=status, region=region).set(count)
    _instance_labels.update(counts.keys())
