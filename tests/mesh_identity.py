"""Mesh certificates for tests: the production CA code (cerebro.runtime.mesh_ca) in a test's directory."""

from __future__ import annotations

from pathlib import Path

import grpc

from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.roles import Role


class MeshCertificates:
    """A mesh CA in ``directory``, issuing one certificate per role (or per name) on demand."""

    def __init__(self, directory: Path, common_name: str = "Cerebro test mesh CA") -> None:
        self.authority = MeshAuthority.load_or_create(directory, common_name)

    def tls(self, role: Role, name: str | None = None) -> TlsSettings:
        return self.authority.ensure(role, name)

    def environ(self, role: Role, name: str | None = None) -> dict[str, str]:
        """The CEREBRO_TLS_* settings of a process holding ``role``'s certificate."""
        tls = self.tls(role, name)
        assert tls.ca_file is not None
        return {
            "CEREBRO_TLS_CERT_FILE": str(tls.cert_file),
            "CEREBRO_TLS_KEY_FILE": str(tls.key_file),
            "CEREBRO_TLS_CA_FILE": str(tls.ca_file),
        }

    def channel(self, target: str, server_role: Role, client_role: Role = Role.OPERATOR) -> grpc.aio.Channel:
        """A channel to a ``server_role`` server, presenting a ``client_role`` certificate; one attempt per call."""
        return open_channel(target, self.tls(client_role), server_role=server_role, max_attempts=1)
