"""The agent id -> namespace rule: always a valid name or a refusal, never a silent merge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cerebro.runtime.violations import NAMESPACE_PATTERN
from services.operations.importer.namespaces import (
    NamespaceMappingError,
    build_mapping,
    normalised_namespace,
    parse_namespace_map,
)


@given(st.text(max_size=200))
def test_the_rule_gives_a_valid_namespace_or_none(agent_id: str) -> None:
    namespace = normalised_namespace(agent_id)
    assert namespace is None or NAMESPACE_PATTERN.fullmatch(namespace)


@given(st.from_regex(NAMESPACE_PATTERN, fullmatch=True))
def test_a_valid_name_is_kept_as_is(name: str) -> None:
    assert normalised_namespace(name) == name


@pytest.mark.parametrize(
    ("agent_id", "namespace"),
    [
        ("ARIA", "aria"),
        ("Ricardo Ñ", "ricardo_n"),
        ("  Nexus Prime!! ", "nexus_prime"),
        ("007", "agent_007"),
        ("ÅngströM-2", "angstrom-2"),
        ("x" * 80, "x" * 63),
        ("日本", None),
        ("", None),
    ],
)
def test_examples_of_the_rule(agent_id: str, namespace: str | None) -> None:
    assert normalised_namespace(agent_id) == namespace


def test_explicit_maps_may_merge_agents_the_rule_may_not() -> None:
    assert build_mapping(["Aria", "aria"], {"Aria": "aria"}).namespaces == {"Aria": "aria", "aria": "aria"}
    with pytest.raises(NamespaceMappingError, match="would all land in namespace 'aria'"):
        build_mapping(["Aria", "aria"], {})


def test_a_map_for_an_agent_the_source_lacks_is_refused() -> None:
    with pytest.raises(NamespaceMappingError, match="names 'Aira', no agent of the source"):
        build_mapping(["ARIA"], {"Aira": "aria"})


def test_map_arguments_are_checked() -> None:
    assert parse_namespace_map(["a=b=c", "ARIA=aria"]) == {"a=b": "c", "ARIA": "aria"}
    for bad in ("noequals", "=aria", "ARIA=Not Valid"):
        with pytest.raises(NamespaceMappingError):
            parse_namespace_map([bad])
    with pytest.raises(NamespaceMappingError, match="twice"):
        parse_namespace_map(["ARIA=aria", "ARIA=other"])
