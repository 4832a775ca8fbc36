"""The mesh CA: what a role's certificate holds, when `ensure` keeps one, and how the keys are kept."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cerebro.runtime import mesh_ca
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.roles import Role


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def names(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def usages(certificate: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_a_service_certificate_names_its_role_for_servers_and_clients(tmp_path: Path) -> None:
    authority = MeshAuthority.load_or_create(tmp_path / "ca")
    memory = load(authority.issue(Role.MEMORY).cert_file)
    memory.verify_directly_issued_by(authority.certificate)
    assert names(memory).get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://cerebro/memory"]
    assert names(memory).get_values_for_type(x509.DNSName) == ["memory.cerebro.internal", "localhost"]
    assert usages(memory) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    # The operator's certificate is a client's only: it cannot pose as any service.
    operator = load(authority.issue(Role.OPERATOR).cert_file)
    assert names(operator).get_values_for_type(x509.DNSName) == []
    assert usages(operator) == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_keys_are_private_and_the_ca_is_kept(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    first = MeshAuthority.load_or_create(directory)
    first.issue(Role.GATEWAY)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert {path.name: path.stat().st_mode & 0o777 for path in directory.glob("*.key")} == {
        "ca.key": 0o600,
        "gateway.key": 0o600,
    }
    again = MeshAuthority.load_or_create(directory)
    assert again.certificate == first.certificate


def test_ensure_keeps_a_good_certificate_and_replaces_others(tmp_path: Path) -> None:
    authority = MeshAuthority.load_or_create(tmp_path / "ca")
    issued = authority.ensure(Role.CONSENSUS)
    kept = authority.ensure(Role.CONSENSUS)
    assert kept.cert_file.read_bytes() == issued.cert_file.read_bytes()

    # One from another CA (a CA made anew) is replaced.
    foreign = MeshAuthority.load_or_create(tmp_path / "other").issue(Role.CONSENSUS)
    issued.cert_file.write_bytes(foreign.cert_file.read_bytes())
    replaced = authority.ensure(Role.CONSENSUS)
    load(replaced.cert_file).verify_directly_issued_by(authority.certificate)

    # One for another role under this name is replaced.
    authority.issue(Role.EMBEDDER, "consensus")
    assert "spiffe://cerebro/consensus" in names(load(authority.ensure(Role.CONSENSUS).cert_file)).get_values_for_type(
        x509.UniformResourceIdentifier
    )

    # One close to its end is replaced.
    authority.issue(Role.CONSENSUS, days=10)
    renewed = load(authority.ensure(Role.CONSENSUS).cert_file)
    left = renewed.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert left > mesh_ca.RENEW_BEFORE
