"""Identity hashes and continuity scores over a namespace's memory blocks.

A block's digest is the SHA-256 of a canonical JSON serialisation of what it says (label,
description, value, character limit, read-only flag; not its id, version or times, so re-creating a
block with the same content is no identity change). The identity hash is the SHA-256 of the sorted
(label, digest) pairs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BlockContent:
    label: str
    description: str
    value: str
    char_limit: int
    read_only: bool


@dataclass(frozen=True)
class Identity:
    identity_hash: str
    block_digests: dict[str, str]


@dataclass(frozen=True)
class Continuity:
    score: float
    identity_matches: bool
    changed_labels: list[str]


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def block_digest(block: BlockContent) -> str:
    return hashlib.sha256(
        _canonical(
            {
                "label": block.label,
                "description": block.description,
                "value": block.value,
                "char_limit": block.char_limit,
                "read_only": block.read_only,
            }
        )
    ).hexdigest()


def identity_of(blocks: Iterable[BlockContent]) -> Identity:
    digests = {block.label: block_digest(block) for block in blocks}
    return Identity(hashlib.sha256(_canonical(sorted(digests.items()))).hexdigest(), digests)


def continuity(then: Mapping[str, str], now: Mapping[str, str]) -> Continuity:
    """Fraction of blocks unchanged, over the labels present then or now (1.0 when identical)."""
    labels = set(then) | set(now)
    changed = sorted(label for label in labels if then.get(label) != now.get(label))
    score = 1.0 if not labels else (len(labels) - len(changed)) / len(labels)
    return Continuity(score=score, identity_matches=not changed, changed_labels=changed)
