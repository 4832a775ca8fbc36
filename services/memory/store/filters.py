"""SQL conditions for the episode filters shared by listing and search (values always parameterised)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EpisodeFilter:
    project_id: uuid.UUID | None = None
    tags: list[str] = field(default_factory=list)
    start_time: datetime | None = None
    end_time: datetime | None = None
    min_importance: float | None = None


class Conditions:
    """WHERE clauses with numbered parameters, continuing after the parameters already used."""

    def __init__(self, args: list[Any]) -> None:
        self.args = args
        self.clauses: list[str] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def add_episode_filter(conditions: Conditions, alias: str, selected: EpisodeFilter) -> None:
    if selected.project_id is not None:
        conditions.add(f"{alias}.project_id = {conditions.param(selected.project_id)}")
    if selected.tags:
        conditions.add(f"{alias}.tags @> {conditions.param(selected.tags)}::text[]")
    if selected.start_time is not None:
        conditions.add(f"{alias}.occurred_at >= {conditions.param(selected.start_time)}")
    if selected.end_time is not None:
        conditions.add(f"{alias}.occurred_at < {conditions.param(selected.end_time)}")
    if selected.min_importance is not None:
        conditions.add(f"{alias}.importance >= {conditions.param(selected.min_importance)}")


def episode_text_filter_args(selected: EpisodeFilter) -> tuple[object, ...]:
    """The same filters as arguments of memory.rank_episodes_by_text (None: no such filter)."""
    return (selected.project_id, selected.tags or None, selected.start_time, selected.end_time, selected.min_importance)
