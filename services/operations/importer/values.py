"""Cleaning of single old values into what the memory schema accepts; None where a value is unusable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def aware(moment: datetime | None) -> datetime | None:
    """Timestamps without a time zone (not in the documented old schemas) are taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def first_time(*moments: datetime | None) -> datetime | None:
    for moment in moments:
        if moment is not None:
            return aware(moment)
    return None


def unit_interval(value: float | None, default: float) -> float | None:
    """``value`` if it lies in [0, 1], ``default`` if it is NULL, None if it is out of range or NaN."""
    if value is None:
        return default
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        return None
    return number


def clean_tags(tags: Sequence[str | None] | None) -> list[str]:
    """Tags as the memory API accepts them: no NULL or blank tag, no duplicate (the first is kept).

    Tags longer than the API's limit are kept whole: shortening one would change its meaning."""
    cleaned: list[str] = []
    for tag in tags or ():
        if tag is not None and tag.strip() and tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def tags_changed(original: Sequence[str | None] | None, cleaned: list[str]) -> bool:
    return list(original or ()) != cleaned


def as_object(value: Any, key: str) -> dict[str, Any]:
    """A JSON object: NULL becomes {}, an array or scalar is kept under ``key``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {key: value}


def blank(text: str | None) -> bool:
    return text is None or not text.strip()
