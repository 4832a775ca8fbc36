"""The client installed alone, as an agent's machine has it, against a real `cerebro up`.

`pip install "<this checkout>[client]"` into a fresh virtual environment (the package registry or pip's
cache provides grpcio, protobuf, cryptography and googleapis-common-protos / grpcio-status), then the
agent's commands from that environment: remember, recall, blocks, instances, join, propose, vote. The
operator's side (an API key, the enrolment of the agent's key) runs from the full installation, as it
would on the server. The environment holds none of the server's distributions, the client imports none
of the server's modules, and the server's commands say which extra they need.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.cerebro_up import ROOT, SharedUp
from tests.test_packaging import extra_names
from tests.test_shell_agent import Mesh

pytestmark = pytest.mark.e2e

INSTALL_SECONDS = 900
AGENT = "CLIENT-ONLY"
# What the checkout's wheel is built from (as the Dockerfile copies it).
SOURCE = ("pyproject.toml", "README.md", "cerebro", "services")
# Never imported by the client: the server's code and the libraries only the server extras install.
SERVER_MODULES = ("services", "cerebro.runtime", "cerebro.embedded", "cerebro.healthcheck")
SERVER_LIBRARIES = ("asyncpg", "torch", "aiohttp", "redis", "opentelemetry", "prometheus_client", "numpy")


@dataclass(frozen=True)
class ClientInstall:
    """A virtual environment holding only `cerebro[client]`; commands run outside the checkout."""

    venv: Path
    workdir: Path

    def run(self, program: str, *argv: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("CEREBRO_", "PYTHON", "VIRTUAL_ENV"))}
        return subprocess.run(
            [str(self.venv / "bin" / program), *argv],
            cwd=self.workdir,
            env={**clean, **(environ or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@dataclass(frozen=True)
class Setup:
    mesh: Mesh
    client: ClientInstall
    api_key: Path

    def agent(self, **extra: str) -> dict[str, str]:
        """The agent's environment: where the gateway is, its API key, and what else it is given."""
        return {"CEREBRO_GATEWAY_TARGET": self.mesh.target, "CEREBRO_API_KEY_FILE": str(self.api_key), **extra}

    def cerebro(self, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.client.run("cerebro", *argv, environ=self.agent(**extra))


def _install_client(directory: Path) -> ClientInstall:
    source, venv, workdir = directory / "source", directory / "venv", directory / "work"
    for name in SOURCE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    workdir.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=INSTALL_SECONDS)
    client = ClientInstall(venv, workdir)
    installed = client.run("python", "-m", "pip", "install", "--quiet", f"{source}[client]")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return client


@pytest.fixture(scope="module")
def setup(cerebro_up: SharedUp) -> Iterator[Setup]:
    secrets = Path(tempfile.mkdtemp(prefix="cerebro-test-client-keys-"))
    install_dir = Path(tempfile.mkdtemp(prefix="cerebro-test-client-venv-"))
    mesh = Mesh(cerebro_up.data_dir, cerebro_up.ports, secrets)
    try:
        client = _install_client(install_dir)
        yield Setup(mesh, client, mesh.issue_key("client-only", instance=AGENT))
    finally:
        # The shared `cerebro up`'s electorate as this module found it.
        mesh.admin("instances", "revoke", AGENT)
        for directory in (secrets, install_dir):
            shutil.rmtree(directory, ignore_errors=True)


def test_the_environment_holds_the_client_dependencies_and_nothing_of_the_server(setup: Setup) -> None:
    listing = setup.client.run(
        "python",
        "-c",
        "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
    )
    assert listing.returncode == 0, listing.stderr
    installed = {canonicalize_name(name) for name in json.loads(listing.stdout)}
    client = extra_names()
    server_only = extra_names("all") - client
    assert client <= installed
    assert not installed & server_only, f"a client install got server distributions: {sorted(installed & server_only)}"


def test_the_client_imports_no_server_module(setup: Setup) -> None:
    program = f"""
import json, pkgutil, sys
import cerebro, cerebro.client, cerebro.consensus.client, cerebro.consensus.keys, cerebro.cli.main
for package in ("cerebro.gateway.v1", "cerebro.memory.v1", "cerebro.consensus.v1", "cerebro.embedder.v1"):
    for module in pkgutil.iter_modules(__import__(package, fromlist=["_"]).__path__, package + "."):
        __import__(module.name)
with cerebro.client.CerebroClient() as client:
    hits = client.recall("anything at all").hits
server = sorted(m for m in sys.modules if m.startswith({SERVER_MODULES!r}) or m.split(".")[0] in {SERVER_LIBRARIES!r})
print(json.dumps({{"server": server, "cerebro": cerebro.__file__, "hits": len(hits)}}))
"""
    done = setup.client.run("python", "-c", program, environ=setup.agent())
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["server"] == []
    # The installed package, not the checkout.
    assert Path(report["cerebro"]).is_relative_to(setup.client.venv)


def test_remember_and_recall(setup: Setup) -> None:
    content = "NEXUS shipped the client on its own"
    remembered = setup.cerebro("remember", content, "--tag", "client-only")
    assert remembered.returncode == 0, remembered.stderr
    assert content in remembered.stdout and "client-only" in remembered.stdout

    recalled = setup.cerebro("recall", "client on its own")
    assert recalled.returncode == 0, recalled.stderr
    lines = recalled.stdout.splitlines()
    assert lines[0].split() == ["#", "score", "text/vector", "occurred", "tags", "content"]
    assert lines[1].startswith("1 ") and lines[1].endswith(content)

    as_json = setup.cerebro("recall", "client on its own", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["hits"][0]["episode"]["tags"] == ["client-only"]


def test_an_error_is_one_line_from_the_gateway(setup: Setup) -> None:
    refused = setup.cerebro("remember", "   ")
    assert refused.returncode == 1
    assert refused.stderr.startswith("cerebro remember: INVALID_ARGUMENT: ") and len(refused.stderr.splitlines()) == 1
    unauthenticated = setup.client.run(
        "cerebro", "blocks", "list", environ={"CEREBRO_GATEWAY_TARGET": setup.mesh.target, "CEREBRO_API_KEY": "crb_x.y"}
    )
    assert unauthenticated.returncode == 1 and unauthenticated.stderr.startswith("cerebro blocks: UNAUTHENTICATED")


def test_join_propose_and_vote(setup: Setup) -> None:
    key_file = setup.mesh.secrets / "agents" / f"{AGENT}.pem"
    public = setup.cerebro("instances", "public-key", "--key-file", str(key_file))
    assert public.returncode == 0, public.stderr
    public_file = key_file.with_suffix(".pub")
    public_file.write_text(public.stdout)
    # The operator enrols the key from the server's installation.
    setup.mesh.admin("instances", "enroll", AGENT, "--public-key", str(public_file), "--voting")

    joined = setup.cerebro("join", AGENT, "--key-file", str(key_file), "--capability", "packaging")
    assert joined.returncode == 0, joined.stderr
    instance_id = joined.stdout.strip().splitlines()[-1].removeprefix("export CEREBRO_AGENT_INSTANCE_ID=")
    listed = setup.cerebro("instances", "--json")
    assert listed.returncode == 0, listed.stderr
    assert instance_id in {i["instanceId"] for i in json.loads(listed.stdout)["instances"]}

    signing = {"CEREBRO_AGENT_KEY_FILE": str(key_file), "CEREBRO_AGENT_INSTANCE_ID": instance_id}
    proposed = setup.cerebro("propose", "Ship the client on its own?", "--json", **signing)
    assert proposed.returncode == 0, proposed.stderr
    proposal = json.loads(proposed.stdout)["proposal"]
    assert proposal["proposerId"] == instance_id

    voted = setup.cerebro("vote", proposal["proposalId"], "yes", **signing)
    assert voted.returncode == 0, voted.stderr
    assert re.search(r"^state\s+decided$", voted.stdout, re.MULTILINE), voted.stdout  # the only voter decides
    assert "yes=1" in voted.stdout

    blocks = setup.cerebro("blocks", "list")
    assert blocks.returncode == 0, blocks.stderr


@pytest.mark.parametrize(
    ("argv", "extra"),
    [(["keys", "list"], "server"), (["instances", "enrolled"], "server"), (["up"], "all"), (["backup"], "embedded")],
)
def test_a_server_command_says_which_extra_it_needs(setup: Setup, argv: list[str], extra: str) -> None:
    done = setup.client.run("cerebro", *argv)
    assert done.returncode == 2
    assert f"pip install 'cerebro[{extra}]'" in done.stderr and "Traceback" not in done.stderr
    listed = setup.client.run("cerebro", "--help")
    assert listed.returncode == 0 and f"(not installed: pip install 'cerebro[{extra}]')" in listed.stdout
