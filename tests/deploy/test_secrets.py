"""No credential in the repository's deployment files; the secrets generator does what compose needs.

The scan covers everything a deployment is made of (docker-compose.yml, the Dockerfile, deploy/,
docs/deploy.md) except deploy/secrets/, where the generator writes the real values on the operator's
machine and which git ignores.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import yaml

from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import MEMORY_CALLERS, Role
from cerebro.runtime.server import ServiceHost
from tests.deploy.conftest import DEPLOY, KUBERNETES, REPO
from tests.support import loopback_settings, running_host

GENERATOR = DEPLOY / "generate-secrets.sh"
GENERATED = DEPLOY / "secrets"

# What a value may be where a secret is expected: nothing, a path, a shell or template expansion, or
# a <placeholder>.
_REFERENCE = r"(?:$|/|\$\w|\$\{|\$\(|\$\$\(|<[^>]+>|\{\{|\"\$|'\$|`cat\b|:')"
_PATTERNS = {
    "a credential in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:(?!\s)(?!<)(?!\$)(?!\*)[^@\s/'\"]+@"),
    # `name: value` or `name=value`; a colon directly before a quote is psql's :'variable', not a value.
    "an assigned secret": re.compile(
        r"(?i)(?<![a-z])(?:password|passwd|secret|token|api[_-]?key|private[_-]?key)\s*(?::(?!')|=)\s*(?!"
        + _REFERENCE
        + r")\S"
    ),
    "a Redis password": re.compile(r"(?i)\brequirepass\s+(?!" + _REFERENCE + r")\S"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a long random-looking string": re.compile(
        r"(?<![0-9a-zA-Z:@])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{32,}(?![0-9a-zA-Z])"
    ),
}


def deployment_files() -> list[Path]:
    files = [REPO / "docker-compose.yml", REPO / "Dockerfile", REPO / ".dockerignore", REPO / "docs" / "deploy.md"]
    files += [p for p in DEPLOY.rglob("*") if p.is_file() and GENERATED not in p.parents]
    return sorted(p for p in files if p.exists())


def findings(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in _PATTERNS.items():
            if pattern.search(line):
                found.append(f"line {number}: {what}: {line.strip()[:120]}")
    return found


@pytest.mark.parametrize(
    "line",
    [
        "CEREBRO_DATABASE_URL: postgresql://cerebro_memory:hunter2@postgres:5432/cerebro",
        "  POSTGRES_PASSWORD: s3cr3t",
        "GF_SECURITY_ADMIN_PASSWORD=admin123",
        "requirepass 0a1b2c3d",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "token: 8f4e2a9c1b7d3e6f0a5c8b2d4e7f1a3c9b6d2e8f",
    ],
)
def test_the_scan_catches_credentials(line: str) -> None:
    assert findings(line), line


@pytest.mark.parametrize(
    "line",
    [
        "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_superuser_password",
        "requirepass $$(cat /run/secrets/redis_password)",
        "postgresql://cerebro_memory:<password>@cerebro-db-rw:5432/cerebro",
        "passwordSecret:",
        "image: python:3.11.15-slim-trixie@sha256:" + "0123456789abcdef" * 4,
    ],
)
def test_the_scan_lets_references_through(line: str) -> None:
    assert not findings(line), line


@pytest.mark.parametrize("path", deployment_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_plaintext_secret_in_deployment_files(path: Path) -> None:
    problems = findings(path.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def test_kubernetes_manifests_only_reference_secrets() -> None:
    for path in KUBERNETES.rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert not (document and document.get("kind") == "Secret"), (
                f"{path}: Secrets are created outside the repository"
            )


def test_generated_secrets_are_ignored_by_git() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--quiet", "--no-index", "deploy/secrets/redis_password"], check=False
    )
    assert result.returncode == 0, "deploy/secrets/ must be in .gitignore (the line `/deploy/secrets/`)"


def generate(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GENERATOR), "--dir", str(directory), *args], capture_output=True, text=True, check=False, timeout=60
    )


def contents(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in directory.iterdir()}


class TestGenerator:
    def test_writes_random_passwords_and_matching_urls(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        assert (
            generate(directory, "--postgres-host", "db.example", "--redis-host", "cache.example:6380").returncode == 0
        )
        files = contents(directory)
        passwords = {name: value for name, value in files.items() if name.endswith("_password")}
        assert len(set(passwords.values())) == len(passwords) == 8
        assert all(re.fullmatch(r"[0-9a-f]{48}", p) for p in passwords.values()), "192 bits, hex"
        assert (
            files["database_url_owner"]
            == f"postgresql://cerebro:{files['postgres_owner_password']}@db.example:5432/cerebro"
        )
        assert (
            files["database_url_memory"]
            == f"postgresql://cerebro_memory:{files['cerebro_memory_password']}@db.example:5432/cerebro"
        )
        assert (
            files["database_url_memory_worker"]
            == f"postgresql://cerebro_memory_worker:{files['cerebro_memory_worker_password']}@db.example:5432/cerebro"
        )
        for service in ("gateway", "consensus"):
            password = files[f"cerebro_{service}_password"]
            assert (
                files[f"database_url_{service}"] == f"postgresql://cerebro_{service}:{password}@db.example:5432/cerebro"
            )
        assert files["redis_url"] == f"redis://:{files['redis_password']}@cache.example:6380/0"

    def test_keeps_the_directory_private(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        generate(directory)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        # Readable inside containers running as other users; the directory keeps host users out.
        assert {stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()} == {0o644}

    def test_never_changes_existing_secrets(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        generate(directory)
        before = contents(directory)
        assert generate(directory).returncode == 0
        assert contents(directory) == before

    def test_rotates_exactly_one_credential(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        generate(directory)
        before = contents(directory)
        assert generate(directory, "--rotate", "cerebro-memory").returncode == 0
        after = contents(directory)
        assert {name for name in before if before[name] != after[name]} == {
            "cerebro_memory_password",
            "database_url_memory",
        }
        assert after["cerebro_memory_password"] in after["database_url_memory"]

    def test_refuses_an_unknown_credential_before_writing(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        result = generate(directory, "--rotate", "nexus-admin")
        assert result.returncode == 2 and "unknown credential" in result.stderr
        assert not directory.exists()


class NamespacesOnly(memory_service_pb2_grpc.MemoryServiceServicer):
    async def ListNamespaces(
        self, request: memory_service_pb2.ListNamespacesRequest, context: grpc.aio.ServicerContext
    ) -> memory_service_pb2.ListNamespacesResponse:
        return memory_service_pb2.ListNamespacesResponse()


class TestMeshCertificates:
    """The certificates the generator makes with openssl work as the mesh's own (cerebro.runtime.mesh_ca) do."""

    def test_rotation_reissues_the_process_certificates_only(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        generate(directory)
        before = contents(directory)
        assert generate(directory, "--rotate", "mesh-certificates").returncode == 0
        after = contents(directory)
        changed = {name for name in before if before[name] != after[name]}
        assert changed == {name for name in before if name.endswith(("_tls_cert", "_tls_key"))}
        assert len(changed) == 14  # six processes and the operator

    async def test_servers_check_the_role_and_clients_the_server_role(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        assert generate(directory).returncode == 0

        def tls(role: str) -> TlsSettings:
            name = role.replace("-", "_")
            return TlsSettings(
                directory / f"{name}_tls_cert", directory / f"{name}_tls_key", directory / "mesh_ca_cert"
            )

        @contextlib.asynccontextmanager
        async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
            host.add_service(
                memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
                memory_service_pb2_grpc.add_MemoryServiceServicer_to_server,
                NamespacesOnly(),
                callers=MEMORY_CALLERS,
            )
            yield

        memory = tls("memory")
        environ = {
            "CEREBRO_TLS_CERT_FILE": str(memory.cert_file),
            "CEREBRO_TLS_KEY_FILE": str(memory.key_file),
            "CEREBRO_TLS_CA_FILE": str(memory.ca_file),
        }
        async with running_host(loopback_settings("memory", tmp_path / "data", environ), lifespan) as host:
            target = f"127.0.0.1:{host.bound_port}"
            outcomes = {}
            for caller, server_role in (
                ("gateway", Role.MEMORY),
                ("operator", Role.MEMORY),
                ("embedder", Role.MEMORY),
                ("gateway", Role.EMBEDDER),
            ):
                async with open_channel(target, tls(caller), server_role=server_role, max_attempts=1) as channel:
                    try:
                        await memory_service_pb2_grpc.MemoryServiceStub(channel).ListNamespaces(
                            memory_service_pb2.ListNamespacesRequest(), timeout=5
                        )
                        outcomes[(caller, server_role.value)] = grpc.StatusCode.OK
                    except grpc.aio.AioRpcError as error:
                        outcomes[(caller, server_role.value)] = error.code()
        assert outcomes == {
            ("gateway", "memory"): grpc.StatusCode.OK,
            ("operator", "memory"): grpc.StatusCode.OK,
            ("embedder", "memory"): grpc.StatusCode.PERMISSION_DENIED,
            # The server's certificate is memory's, not the embedder's the client expects.
            ("gateway", "embedder"): grpc.StatusCode.UNAVAILABLE,
        }
