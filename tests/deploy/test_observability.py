"""Prometheus, alert rules, the Grafana dashboard and the OpenTelemetry Collector configuration.

The central check: every metric the alert rules and the dashboard query is one the code exports.
Exported names come from the Python sources under cerebro/ and services/: each prometheus_client
Counter/Gauge/Histogram/Summary definition's name, with the series the client derives from it
(`_total` for counters, `_bucket`/`_sum`/`_count` for histograms, `_sum`/`_count` for summaries).
promtool is not available from a package registry, so rules are checked for structure, and their
PromQL for balanced brackets and for the metric names it uses.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cerebro.runtime.config import DEFAULT_PORTS
from tests.deploy.conftest import DEPLOY, REPO, load_yaml

RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
BUILT_IN_SERIES = {"up"}

# ---------------------------------------------------------------------------------------------------
# What the code exports


def exported_series() -> dict[str, str]:
    """{series name: file that defines it} for every prometheus_client metric under cerebro/ and services/."""
    kinds = {"Counter", "Gauge", "Histogram", "Summary"}
    series: dict[str, str] = {}
    for path in sorted([*(REPO / "cerebro").rglob("*.py"), *(REPO / "services").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = _prometheus_names(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kind = _called_kind(node.func, imported)
            if kind not in kinds:
                continue
            name = _metric_name(node)
            if name is None:
                continue
            for derived in _derived(kind, name):
                series[derived] = str(path.relative_to(REPO))
    return series


def _prometheus_names(tree: ast.Module) -> dict[str, str]:
    """Local names bound to prometheus_client's metric classes (and the module itself, as '')."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client":
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "prometheus_client":
                    names[alias.asname or alias.name] = ""
    return names


def _called_kind(func: ast.expr, imported: dict[str, str]) -> str | None:
    if isinstance(func, ast.Name):
        return imported.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and imported.get(func.value.id) == "":
        return func.attr
    return None


def _metric_name(call: ast.Call) -> str | None:
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    node = call.args[0] if call.args else keywords.get("name")
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return None
    parts = []
    for prefix in ("namespace", "subsystem"):
        value = keywords.get(prefix)
        if isinstance(value, ast.Constant) and value.value:
            parts.append(value.value)
    return "_".join([*parts, node.value])


def _derived(kind: str, name: str) -> list[str]:
    if kind == "Counter":
        base = name.removesuffix("_total")
        return [f"{base}_total", f"{base}_created"]
    if kind == "Histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"]
    if kind == "Summary":
        return [name, f"{name}_sum", f"{name}_count", f"{name}_created"]
    return [name]


def test_the_scan_finds_the_shared_grpc_metrics() -> None:
    series = exported_series()
    assert {"grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "grpc_server_in_flight"} <= set(series)


# ---------------------------------------------------------------------------------------------------
# What the rules and the dashboard query

_FUNCTIONS_AND_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan", "atan2",
}  # fmt: skip
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and label names excluded)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expression)  # string literals
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables ($job, ${datasource}, $__rate_interval)
    text = re.sub(r"\{[^{}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", "", text)  # ranges and subqueries
    text = _GROUPING.sub("", text)  # label lists of by/without/on/ignoring/group_*
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if is_call or name in _FUNCTIONS_AND_KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('sum by (job, le) (rate(a_bucket{job=~"x|y", le!="1"}[5m]))', {"a_bucket"}),
        ("time() - max(b_seconds) > 900", {"b_seconds"}),
        ("x / on (job) group_left (region) y offset 5m", {"x", "y"}),
        ("histogram_quantile(0.99, sum by (le) (rate(c_bucket[$__rate_interval])))", {"c_bucket"}),
        ('up{job=~"$job"} == bool 0 and d_total', {"up", "d_total"}),
    ],
)
def test_metric_name_extraction(expression: str, expected: set[str]) -> None:
    assert metric_names(expression) == expected


def rule_expressions() -> Iterator[tuple[str, str]]:
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]["query"]
                inner = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
                yield f"{path.name}: ${variable['name']}", inner.group(1) if inner else query


def test_every_queried_metric_is_exported_by_the_code() -> None:
    known = set(exported_series()) | BUILT_IN_SERIES
    unknown = {
        f"{where}: {name}"
        for where, expression in [*rule_expressions(), *dashboard_expressions()]
        for name in metric_names(expression) - known
    }
    assert not unknown, "metrics no code exports:\n" + "\n".join(sorted(unknown))


@pytest.mark.parametrize(
    ("where", "expression"), [pytest.param(w, e, id=w) for w, e in [*rule_expressions(), *dashboard_expressions()]]
)
def test_expressions_are_well_formed(where: str, expression: str) -> None:
    stripped = re.sub(r'"(?:\\.|[^"\\])*"', '""', expression)
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for char in stripped:
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            assert depth[closing[char]] >= 0, f"{where}: unbalanced {char}"
    assert all(v == 0 for v in depth.values()), f"{where}: unbalanced brackets"
    for duration in re.findall(r"\[([^\]]+)\]", stripped):
        assert re.fullmatch(r"(\d+[smhdwy])+|\$__rate_interval", duration), f"{where}: bad range [{duration}]"
    assert metric_names(expression), f"{where}: selects no metric"


# ---------------------------------------------------------------------------------------------------
# Prometheus


def test_every_process_is_scraped_on_its_metrics_port(compose: dict[str, Any]) -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {process: [f"{process}:{ports[1]}"] for process, ports in DEFAULT_PORTS.items()}
    assert set(jobs) <= set(compose["services"]), "scrape targets are compose service names"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in mounts


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_alert_rules_have_what_an_operator_needs(path: Path) -> None:
    groups = load_yaml(path)["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    for group in groups:
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for path in RULES for group in load_yaml(path)["groups"] for rule in group["rules"]}


def compact(expression: str) -> str:
    return re.sub(r"\s+", " ", expression).strip()


def test_the_alerts_of_the_design_are_there() -> None:
    rules = alerts()
    queue = rules["CerebroEmbeddingsQueueBacklog"]
    assert compact(queue["expr"]) == "max(embeddings_queue_depth) > 1000"
    down = rules["CerebroWorkerDown"]
    assert compact(down["expr"]) == 'up{job=~"embeddings-worker|reconciliation-worker"} == 0' and down["for"] == "2m"
    dead = rules["CerebroEmbeddingsDeadLetters"]
    assert compact(dead["expr"]) == "sum(increase(embeddings_dead_total[1h])) > 10"
    assert "grpc_server_handled_total" in rules["CerebroGrpcErrorRate"]["expr"]
    assert "histogram_quantile(0.99" in rules["CerebroGrpcLatencyP99"]["expr"]
    assert "grpc_server_handling_seconds_bucket" in rules["CerebroGrpcLatencyP99"]["expr"]


# ---------------------------------------------------------------------------------------------------
# Grafana


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 39
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    titles = {p["title"] for p in panels}
    assert {"Calls per second", "Server errors (share of calls)", "Latency p99", "Queue depth"} <= titles


def test_grafana_is_provisioned_with_the_dashboard_and_data_sources(compose: dict[str, Any]) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = {s["uid"]: s for s in load_yaml(provisioning / "datasources" / "cerebro.yml")["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:9090" and sources["prometheus"]["type"] == "prometheus"
    assert sources["jaeger"]["url"] == "http://jaeger:16686" and sources["jaeger"]["type"] == "jaeger"
    (provider,) = load_yaml(provisioning / "dashboards" / "cerebro.yml")["providers"]
    mounts = dict(
        m.rsplit(":", 1)[0].split(":", 1) for m in compose["services"]["grafana"]["volumes"] if m.startswith("./")
    )
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


# ---------------------------------------------------------------------------------------------------
# OpenTelemetry Collector


def test_collector_pipeline_is_wired(compose: dict[str, Any]) -> None:
    config = load_yaml(DEPLOY / "otel-collector" / "config.yaml")
    service = config["service"]
    for pipeline in service["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline[section]:
                assert component in config[section], f"{component} is not configured"
    assert set(service["extensions"]) == set(config["extensions"])
    # Processors in the recommended order: memory_limiter first, batch last.
    assert service["pipelines"]["traces"]["processors"] == ["memory_limiter", "batch"]
    receiver = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    services = compose["services"]
    endpoints = {
        s["environment"].get("OTEL_EXPORTER_OTLP_ENDPOINT")
        for s in services.values()
        if isinstance(s.get("environment"), dict)
    }
    assert endpoints - {None} == {f"http://otel-collector:{receiver.rsplit(':', 1)[1]}"}
    exporter = config["exporters"]["otlp/jaeger"]["endpoint"]
    assert exporter.split(":")[0] in services
    assert config["extensions"]["health_check"]["endpoint"].endswith(":13133")
    assert "http://127.0.0.1:13133/" in services["otel-collector"]["healthcheck"]["test"]
