"""Who may register what (services.consensus.admission), case by case."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from cerebro.runtime.roles import Role
from services.consensus.admission import refusal as admission_refusal
from services.consensus.store.enrollment import Enrolled
from services.consensus.store.registry import Registration

KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def registration(instance_type: str, *, voting: bool = False, capabilities: tuple[str, ...] = ()) -> Registration:
    return Registration(
        instance_name="NAME",
        instance_type=instance_type,
        region="eu",
        capabilities=list(capabilities),
        endpoints=[],
        public_key=KEY,
        voting=voting,
        sign_time=datetime.now(UTC),
        signature=b"s" * 64,
    )


def refusal(*args: object) -> str | None:
    error = admission_refusal(*args)  # type: ignore[arg-type]
    if error is None:
        return None
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    return error.message


VOTER = Enrolled(KEY, voting=True)
OBSERVER = Enrolled(KEY, voting=False)


@pytest.mark.parametrize(
    ("case", "enrolled", "role", "verified", "refused_because"),
    [
        (registration("primary", voting=True), VOTER, Role.GATEWAY, True, None),
        (registration("primary", voting=True), None, Role.GATEWAY, True, "not enrolled"),
        (registration("specialized"), None, None, False, "not enrolled"),
        (registration("primary", voting=True), OBSERVER, Role.OPERATOR, True, "without a vote"),
        (registration("primary"), OBSERVER, Role.OPERATOR, True, None),
        (registration("primary", voting=True), Enrolled(OTHER_KEY, True), Role.GATEWAY, True, "another key"),
        # Service replicas: no enrolment, but a service certificate proving exactly their capability.
        (registration("worker", capabilities=("memory",)), None, Role.MEMORY, True, None),
        (registration("worker", capabilities=("memory",)), None, Role.EMBEDDER, True, "does not prove"),
        (registration("worker", capabilities=("memory",)), None, Role.OPERATOR, True, "service certificate"),
        (registration("worker", capabilities=("memory",)), None, None, True, "service certificate"),
        (registration("worker"), Enrolled(OTHER_KEY, False), Role.MEMORY, True, "another key"),
        (registration("worker", voting=True), None, Role.MEMORY, True, "not enrolled"),
        # Without mutual TLS no role is known: the network is the boundary (and discovery is off).
        (registration("worker", capabilities=("memory",)), None, None, False, None),
    ],
)
def test_admission(
    case: Registration, enrolled: Enrolled | None, role: Role | None, verified: bool, refused_because: str | None
) -> None:
    message = refusal(case, enrolled, role, verified)
    if refused_because is None:
        assert message is None
    else:
        assert message is not None and refused_because in message
