"""Which namespace an old agent id lands in.

The rule, in order:
1. ``--namespace-map AGENT=NAMESPACE`` names it explicitly (AGENT exactly as stored in the source).
2. An agent id that already is a valid namespace name (``^[a-z][a-z0-9_-]{0,62}$``) is used as is.
3. Otherwise: accents removed (Unicode NFKD), lowercased, every run of other characters than
   a-z, 0-9, '_' and '-' replaced by '_', '_' and '-' trimmed from both ends, prefixed with
   ``agent_`` if it does not start with a letter, and cut to 63 characters.

Two agent ids that rule 3 (or rules 2 and 3) would merge into one namespace, and agent ids with no
usable character, are refused before anything is written: namespaces separate what agents may see,
so only an explicit map may merge them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cerebro.runtime.violations import NAMESPACE_PATTERN

MAX_NAMESPACE_CHARS = 63
_OTHER_CHARACTERS = re.compile(r"[^a-z0-9_-]+")


class NamespaceMappingError(ValueError):
    """Agent ids that cannot be given a namespace without an explicit ``--namespace-map``."""


def normalised_namespace(agent_id: str) -> str | None:
    """Rules 2 and 3 for ``agent_id``; None when nothing usable is left."""
    if NAMESPACE_PATTERN.fullmatch(agent_id):
        return agent_id
    ascii_text = unicodedata.normalize("NFKD", agent_id).encode("ascii", "ignore").decode("ascii").lower()
    name = _OTHER_CHARACTERS.sub("_", ascii_text).strip("_-")
    if not name:
        return None
    if not name[0].isalpha():
        name = f"agent_{name}"
    return name[:MAX_NAMESPACE_CHARS].rstrip("_-")


def parse_namespace_map(items: Iterable[str]) -> dict[str, str]:
    """``AGENT=NAMESPACE`` arguments as a dict; the namespace must be a valid name."""
    mapping: dict[str, str] = {}
    for item in items:
        agent_id, separator, namespace = item.rpartition("=")
        if not separator or not agent_id:
            raise NamespaceMappingError(f"--namespace-map {item!r}: expected AGENT=NAMESPACE")
        if not NAMESPACE_PATTERN.fullmatch(namespace):
            raise NamespaceMappingError(
                f"--namespace-map {item!r}: {namespace!r} is not a namespace name "
                "(a lowercase letter, then up to 62 lowercase letters, digits, '_' or '-')"
            )
        if mapping.get(agent_id, namespace) != namespace:
            raise NamespaceMappingError(f"--namespace-map names agent {agent_id!r} twice")
        mapping[agent_id] = namespace
    return mapping


@dataclass(frozen=True)
class NamespaceMapping:
    """The namespace of every agent id found in the source."""

    namespaces: dict[str, str]

    def namespace_of(self, agent_id: str) -> str:
        return self.namespaces[agent_id]


def build_mapping(agent_ids: Iterable[str], explicit: Mapping[str, str]) -> NamespaceMapping:
    """Apply the rule to every agent id; raises with every problem at once."""
    agents = set(agent_ids)
    namespaces: dict[str, str] = {}
    by_rule: dict[str, list[str]] = {}
    unusable: list[str] = []
    for agent_id in sorted(agents):
        if agent_id in explicit:
            namespaces[agent_id] = explicit[agent_id]
            continue
        namespace = normalised_namespace(agent_id)
        if namespace is None:
            unusable.append(agent_id)
            continue
        namespaces[agent_id] = namespace
        by_rule.setdefault(namespace, []).append(agent_id)
    # A map entry for no agent of the source is most likely a typo, which would import silently by the rule.
    problems = [
        f"--namespace-map names {agent_id!r}, no agent of the source" for agent_id in sorted(set(explicit) - agents)
    ]
    problems += [f"agent id {agent_id!r} has no character usable in a namespace name" for agent_id in unusable]
    problems += [
        f"agent ids {', '.join(repr(a) for a in agents)} would all land in namespace {namespace!r}"
        for namespace, agents in sorted(by_rule.items())
        if len(agents) > 1
    ]
    if problems:
        raise NamespaceMappingError(
            "; ".join(problems) + ". Name their namespaces with --namespace-map AGENT=NAMESPACE."
        )
    return NamespaceMapping(namespaces)
