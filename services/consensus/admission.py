"""Who may register what: enrolment for agents and voters, a service certificate for service replicas.

- A name enrolled for a key belongs to that key, whatever registers under it: no squatting.
- An agent-type (PRIMARY, SPECIALIZED) or voting registration needs the name's active enrolment, with
  a vote for a voting one (`cerebro instances enroll NAME --public-key FILE [--voting]`). The gateway
  forwards agents' own signed registrations, so enrolment, not the caller, is what admits an agent.
- A WORKER (a service replica, which discovery may send traffic to) registers only from a service
  certificate of the mesh CA, and claims no capability but its own role. Without mutual TLS no role is
  verified; the gateway then admits no discovered replica at all (services.gateway.discovery).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cerebro.runtime.errors import ServiceError, permission_denied
from cerebro.runtime.roles import SERVICE_ROLES, Role
from services.consensus.store.enrollment import Enrolled

if TYPE_CHECKING:  # the registry imports this module to admit what it registers
    from services.consensus.store.registry import Registration

WORKER = "worker"


def refusal(
    registration: Registration, enrolled: Enrolled | None, registrant: Role | None, roles_verified: bool
) -> ServiceError | None:
    """Why ``registrant`` may not make ``registration`` while ``enrolled`` is the name's active enrolment
    (a PERMISSION_DENIED error), or None when it may."""
    name = registration.instance_name
    if enrolled is not None and enrolled.public_key != registration.public_key:
        return permission_denied(f"instance name {name!r} is enrolled for another key")
    if registration.instance_type != WORKER or registration.voting:
        if enrolled is None:
            return permission_denied(
                f"instance {name!r} is not enrolled; an operator enrols its public key first "
                f"(cerebro instances enroll {name} --public-key FILE)"
            )
        if registration.voting and not enrolled.voting:
            return permission_denied(f"instance {name!r} is enrolled without a vote; register it with voting off")
    if registration.instance_type == WORKER and roles_verified:
        if registrant not in SERVICE_ROLES:
            return permission_denied("WORKER instances register only with a service certificate of the mesh")
        assert registrant is not None
        unproven = sorted(set(registration.capabilities) - {registrant.value})
        if unproven:
            return permission_denied(
                f"a {registrant.value} certificate does not prove the capabilities {', '.join(unproven)}"
            )
    return None
