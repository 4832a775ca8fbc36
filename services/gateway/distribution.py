"""Choosing the instance for a task, and saying why.

Candidates are ranked, in this order, by: how many required capabilities they have (more is better),
whether they are in the preferred region, their load (tasks assigned to them recently; fewer is
better), and their name (so a tie is decided the same way every time). An instance with none of the
required capabilities is never chosen. A ranking in this order, rather than a weighted score, can be
explained in one sentence and cannot trade a missing capability for a shorter queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from cerebro.consensus.v1 import consensus_pb2

LIST_PAGE_SIZE = 1000
MAX_LISTED_INSTANCES = 10_000

InstancesPage = Callable[[consensus_pb2.ListInstancesRequest], Awaitable[consensus_pb2.ListInstancesResponse]]


async def active_instances(
    page: InstancesPage, *, region: str = "", capability: str = "", agents_only: bool
) -> list[consensus_pb2.Instance]:
    """Active instances by name, read with ``page`` from consensus; without the mesh's service replicas
    (workers) when ``agents_only``."""
    instances: list[consensus_pb2.Instance] = []
    page_token = ""
    while len(instances) < MAX_LISTED_INSTANCES:
        response = await page(
            consensus_pb2.ListInstancesRequest(
                page_size=LIST_PAGE_SIZE,
                page_token=page_token,
                status=consensus_pb2.INSTANCE_STATUS_ACTIVE,
                region=region,
                capability=capability,
            )
        )
        instances += [
            instance
            for instance in response.instances
            if not agents_only or instance.instance_type != consensus_pb2.INSTANCE_TYPE_WORKER
        ]
        page_token = response.next_page_token
        if not page_token:
            break
    return instances[:MAX_LISTED_INSTANCES]


@dataclass(frozen=True)
class Candidate:
    instance: consensus_pb2.Instance
    matched: tuple[str, ...]
    missing: tuple[str, ...]
    in_preferred_region: bool
    load: int

    def rank(self) -> tuple[int, bool, int, str]:
        return (-len(self.matched), not self.in_preferred_region, self.load, self.instance.instance_name)


@dataclass(frozen=True)
class Choice:
    chosen: Candidate
    candidate_count: int
    reason: str


def candidates(
    instances: Sequence[consensus_pb2.Instance],
    required: Sequence[str],
    preferred_region: str,
    loads: Mapping[str, int],
) -> list[Candidate]:
    result = []
    for instance in instances:
        capabilities = set(instance.capabilities)
        result.append(
            Candidate(
                instance=instance,
                matched=tuple(name for name in required if name in capabilities),
                missing=tuple(name for name in required if name not in capabilities),
                in_preferred_region=instance.region == preferred_region,
                load=loads.get(instance.instance_id, 0),
            )
        )
    return result


def choose(
    instances: Sequence[consensus_pb2.Instance],
    required: Sequence[str],
    preferred_region: str,
    loads: Mapping[str, int],
    load_window_seconds: float,
) -> Choice | None:
    """The best instance for a task needing ``required``; None when no instance has any of them."""
    ranked = candidates(instances, required, preferred_region, loads)
    if required:
        ranked = [candidate for candidate in ranked if candidate.matched]
    if not ranked:
        return None
    best = min(ranked, key=Candidate.rank)
    return Choice(best, len(instances), explain(best, ranked, required, preferred_region, load_window_seconds))


def explain(
    best: Candidate,
    ranked: Sequence[Candidate],
    required: Sequence[str],
    preferred_region: str,
    load_window_seconds: float,
) -> str:
    parts = []
    if required:
        capability = f"it has {len(best.matched)} of {len(required)} required capabilities ({', '.join(best.matched)})"
        if best.missing:
            capability += (
                f" and lacks {', '.join(best.missing)}, which no active instance has together with more of them"
            )
        parts.append(capability)
    else:
        parts.append("no capabilities were required")
    equally_capable = [c for c in ranked if len(c.matched) == len(best.matched)]
    if best.in_preferred_region:
        parts.append(f"it is in the preferred region {preferred_region}")
    else:
        parts.append(
            f"no equally capable instance is in the preferred region {preferred_region}; "
            f"it is in {best.instance.region}"
        )
    peers = [c for c in equally_capable if c.in_preferred_region == best.in_preferred_region]
    load = f"{best.load} task{'' if best.load == 1 else 's'} assigned in the last {load_window_seconds:g} s"
    tied = [c for c in peers if c.load == best.load]
    if len(peers) == 1:
        parts.append(f"it has {load}")
    elif len(tied) == 1:
        parts.append(f"it has the lowest load of the {len(peers)} equally suited instances ({load})")
    else:
        parts.append(
            f"it shares the lowest load ({load}) with {len(tied) - 1} other instance(s) and comes first by name"
        )
    return f"Chose {best.instance.instance_name}: " + "; ".join(parts) + "."
