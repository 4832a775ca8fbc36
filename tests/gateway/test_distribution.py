"""Task distribution's ranking and its explanation (pure functions)."""

from __future__ import annotations

from cerebro.consensus.v1 import consensus_pb2
from services.gateway.distribution import choose


def instance(name: str, region: str, capabilities: list[str]) -> consensus_pb2.Instance:
    return consensus_pb2.Instance(
        instance_id=f"id-{name}", instance_name=name, region=region, capabilities=capabilities
    )


def test_more_capabilities_beat_region_and_load() -> None:
    instances = [
        instance("near", "eu-west", ["code"]),
        instance("far", "us-east", ["code", "debugging"]),
    ]
    choice = choose(instances, ["code", "debugging"], "eu-west", {"id-far": 7}, 300)
    assert choice is not None and choice.chosen.instance.instance_name == "far"
    assert choice.reason == (
        "Chose far: it has 2 of 2 required capabilities (code, debugging); no equally capable instance is in the "
        "preferred region eu-west; it is in us-east; it has 7 tasks assigned in the last 300 s."
    )


def test_a_partial_match_says_what_is_missing() -> None:
    instances = [instance("aria", "eu-west", ["memory"]), instance("nexus", "eu-west", ["code"])]
    choice = choose(instances, ["memory", "strategy"], "eu-west", {}, 60)
    assert choice is not None and choice.chosen.instance.instance_name == "aria"
    assert choice.chosen.missing == ("strategy",)
    assert "lacks strategy" in choice.reason


def test_no_instance_with_any_required_capability_is_no_choice() -> None:
    assert choose([instance("nexus", "eu-west", ["code"])], ["strategy"], "eu-west", {}, 60) is None
    assert choose([], [], "eu-west", {}, 60) is None


def test_without_requirements_the_least_loaded_local_instance_wins() -> None:
    instances = [
        instance("a", "eu-west", []),
        instance("b", "eu-west", []),
        instance("c", "us-east", []),
    ]
    choice = choose(instances, [], "eu-west", {"id-a": 2, "id-b": 1}, 60)
    assert choice is not None and choice.chosen.instance.instance_name == "b"
    assert choice.reason == (
        "Chose b: no capabilities were required; it is in the preferred region eu-west; "
        "it has the lowest load of the 2 equally suited instances (1 task assigned in the last 60 s)."
    )
    assert choice.candidate_count == 3
