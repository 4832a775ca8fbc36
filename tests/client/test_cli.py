"""The people-facing commands against a real gateway: tables by default, canonical JSON with --json."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cerebro.cli.main import build_parser
from cerebro.client import AsyncCerebroClient, CerebroClient
from cerebro.memory.v1 import semantic_pb2
from tests.client.conftest import Agent, new_agent
from tests.gateway.harness import Mesh


def parse(*argv: str) -> argparse.Namespace:
    """The arguments as `cerebro` parses them, the server parts' commands included (from the entry points)."""
    return build_parser().parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    """Run a command in a thread: the mesh serves on this thread's event loop."""
    status: int = await asyncio.to_thread(args.run, args)
    return status


async def cerebro(mesh: Mesh, *argv: str) -> int:
    """Run a gateway command."""
    return await run(parse(*argv, "--target", mesh.gateway.target))


async def operator(mesh: Mesh, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """Run an admin action of `cerebro instances` as the operator, with the database's URL."""
    monkeypatch.setenv("CEREBRO_DATABASE_URL", mesh.database_url)
    try:
        return await run(parse("instances", *argv))
    finally:
        monkeypatch.delenv("CEREBRO_DATABASE_URL")


@pytest.fixture
def as_agent(monkeypatch: pytest.MonkeyPatch, agent: Agent) -> Agent:
    monkeypatch.setenv("CEREBRO_API_KEY", agent.api_key)
    return agent


async def test_remember_and_recall_print_tables_and_json(
    mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cerebro(mesh, "remember", "NEXUS tuned the reconnect backoff", "--tag", "ops") == 0
    table = capsys.readouterr().out
    assert "NEXUS tuned the reconnect backoff" in table and as_agent.namespace in table

    assert await cerebro(mesh, "recall", "reconnect backoff") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "score", "text/vector", "occurred", "tags", "content"]
    assert lines[1].startswith("1 ") and lines[1].endswith("NEXUS tuned the reconnect backoff")

    assert await cerebro(mesh, "recall", "reconnect backoff", "--json") == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["episode"]["content"] == "NEXUS tuned the reconnect backoff"
    assert hits[0]["episode"]["tags"] == ["ops"]  # canonical JSON: lowerCamelCase, e.g. "fusedScore"
    assert "fusedScore" in hits[0]


async def test_recall_options(mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    await asyncio.to_thread(_remember_three_turns, mesh, as_agent, start)

    assert await cerebro(mesh, "recall", "why was the disk full?", "--mode", "text", "--context", "1") == 0
    out = capsys.readouterr().out
    assert "#1 in context:" in out
    context = out.split("#1 in context:")[1].splitlines()[2:5]
    assert ["pager" in context[0], "disk" in context[1], "pruned" in context[2]] == [True, True, True]
    assert context[1].startswith(">") and not context[0].startswith(">")

    assert await cerebro(mesh, "recall", "pager disk WAL", "--since", "150m", "--until", "90m", "--json") == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [hit["episode"]["content"] for hit in hits] == ["the disk was full"]
    since = (start + timedelta(hours=2)).isoformat()
    assert await cerebro(mesh, "recall", "pager disk WAL", "--since", since, "--recency-weight", "1", "--json") == 0
    assert [hit["episode"]["content"] for hit in json.loads(capsys.readouterr().out)["hits"]] == [
        "we pruned old WAL files"
    ]

    assert await cerebro(mesh, "recall", "disk", "--mode", "text", "--min-score", "0.7") == 1
    assert "min_score" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("recall", "disk", "--since", "last tuesday")
    assert "neither an ISO 8601 time nor an age" in capsys.readouterr().err


async def test_blocks_list_show_update(mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(_create_block, mesh, as_agent)
    assert await cerebro(mesh, "blocks", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["label", "version", "read-only", "chars", "description"]
    assert lines[1].split() == ["persona", "1", "no", "11", "who", "I", "am"]

    assert await cerebro(mesh, "blocks", "update", "persona", "--value", "I am NEXUS 2.") == 0
    assert "I am NEXUS 2." in capsys.readouterr().out
    assert await cerebro(mesh, "blocks", "show", "persona", "--json") == 0
    block = json.loads(capsys.readouterr().out)["block"]
    assert (block["value"], block["version"]) == ("I am NEXUS 2.", "2")  # int64 is a string in canonical JSON

    assert await cerebro(mesh, "blocks", "revisions", "persona") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["version", "created", "value"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"] and lines[1].endswith("I am NEXUS 2.")


async def test_episodes_update_delete_and_forget(
    mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    for content in ("noisy one", "noisy two"):
        assert await cerebro(mesh, "remember", content, "--tag", "noise") == 0
    capsys.readouterr()
    assert await cerebro(mesh, "remember", "keep me", "--json") == 0
    kept = json.loads(capsys.readouterr().out)["episode"]["episodeId"]

    assert (
        await cerebro(mesh, "episodes", "update", kept, "--content", "kept, corrected", "--tag", "a", "--tag", "b") == 0
    )
    shown = capsys.readouterr().out
    assert "kept, corrected" in shown and "a, b" in shown and "PENDING" in shown
    assert await cerebro(mesh, "episodes", "forget", "--tag", "noise") == 0
    dry = capsys.readouterr().out.splitlines()
    assert dry[0].startswith("would forget 2 episode(s)") and len(dry) == 3
    assert await cerebro(mesh, "episodes", "forget", "--tag", "noise", "--force") == 0
    assert capsys.readouterr().out.startswith("forgot 2 episode(s)")
    assert await cerebro(mesh, "episodes", "forget") == 1
    assert "filter: " in capsys.readouterr().err
    assert await cerebro(mesh, "episodes", "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and listed[1].startswith(kept) and listed[1].endswith("kept, corrected")
    assert await cerebro(mesh, "episodes", "delete", kept) == 0
    assert capsys.readouterr().out.strip() == f"deleted {kept}"
    assert await cerebro(mesh, "episodes", "delete", kept) == 1
    assert capsys.readouterr().err.startswith("cerebro episodes: NOT_FOUND: ")


async def test_projects_working_checkpoints_and_knowledge(
    mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cerebro(mesh, "projects", "create", "The CLI", "--dna", "cli_001", "--json") == 0
    project_id = json.loads(capsys.readouterr().out)["project"]["projectId"]
    assert await cerebro(mesh, "projects", "archive", project_id) == 0
    assert "archived" in capsys.readouterr().out
    assert await cerebro(mesh, "projects", "list", "--status", "archived") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == [project_id, "The", "CLI", "cli_001"]
    assert await cerebro(mesh, "projects", "show", project_id) == 0
    assert "The CLI" in capsys.readouterr().out

    item_id, checkpoint_id, knowledge_id = await asyncio.to_thread(_working_checkpoint_knowledge, mesh, as_agent)
    assert await cerebro(mesh, "working", "list") == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(item_id)
    assert await cerebro(mesh, "working", "delete", item_id) == 0
    assert await cerebro(mesh, "working", "list") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "(none)"

    assert await cerebro(mesh, "checkpoints", "list", "--type", "session") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == [checkpoint_id, "session"]
    assert await cerebro(mesh, "checkpoints", "show", checkpoint_id) == 0
    assert '"step": 3' in capsys.readouterr().out

    assert await cerebro(mesh, "knowledge", "lookup", "QUORUM") == 0
    assert "two thirds of the electorate" in capsys.readouterr().out
    assert await cerebro(mesh, "knowledge", "list", "--concept", "quorum") == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(knowledge_id)
    assert await cerebro(mesh, "knowledge", "show", knowledge_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["knowledge"]["concept"] == "Quorum"
    assert await cerebro(mesh, "knowledge", "delete", knowledge_id) == 0
    assert await cerebro(mesh, "knowledge", "lookup", "quorum") == 1
    assert capsys.readouterr().err.startswith("cerebro knowledge: NOT_FOUND: ")


def _working_checkpoint_knowledge(mesh: Mesh, agent: Agent) -> tuple[str, str, str]:
    with CerebroClient(agent.settings(mesh)) as client:
        item = client.put_working_memory({"step": 3}, context_type="task").item
        checkpoint = client.create_checkpoint("session", {"step": 3}).checkpoint
        knowledge = client.upsert_knowledge(
            semantic_pb2.SemanticMemory(concept="Quorum", definition="two thirds of the electorate")
        ).knowledge
    return item.item_id, checkpoint.checkpoint_id, knowledge.semantic_memory_id


def _remember_three_turns(mesh: Mesh, agent: Agent, start: datetime) -> None:
    with CerebroClient(agent.settings(mesh)) as client:
        for index, turn in enumerate(("the pager went off", "the disk was full", "we pruned old WAL files")):
            client.remember(turn, occur_time=start + timedelta(hours=index))


def _create_block(mesh: Mesh, agent: Agent) -> None:
    with CerebroClient(agent.settings(mesh)) as client:
        client.create_block("persona", "I am NEXUS.", description="who I am")


async def test_instances_propose_and_vote(mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cerebro(mesh, "instances") == 0
    assert as_agent.name in capsys.readouterr().out

    key_file = mesh.data_dir / "agent-keys" / f"{as_agent.name}.pem"
    signing = ("--key-file", str(key_file), "--instance-id", as_agent.signer.instance_id)
    assert await cerebro(mesh, "propose", "adopt the CLI", *signing, "--json") == 0
    proposal = json.loads(capsys.readouterr().out)["proposal"]
    assert proposal["proposerId"] == as_agent.signer.instance_id

    assert await cerebro(mesh, "vote", proposal["proposalId"], "yes", *signing) == 0
    out = capsys.readouterr().out
    assert proposal["proposalId"] in out and "yes=1" in out


async def test_join_prints_the_instance_id_that_then_signs_proposals(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"ARIA-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CEREBRO_API_KEY", (await mesh.issue(name.lower(), instance_name=name)).token)
    key_file = mesh.data_dir / "cli-keys" / f"{name}.pem"
    joining = ("join", name, "--key-file", str(key_file), "--region", "eu-west", "--capability", "planning")

    # Not enrolled yet: the consensus service refuses, and says what to do.
    assert await cerebro(mesh, *joining) == 1
    assert f"cerebro instances enroll {name}" in capsys.readouterr().err
    # The agent hands its public key over; the operator enrols it with a vote.
    assert await operator(mesh, monkeypatch, "public-key", "--key-file", str(key_file)) == 0
    public_key_file = key_file.with_suffix(".pub")
    public_key_file.write_text(capsys.readouterr().out)
    assert public_key_file.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert await operator(mesh, monkeypatch, "enroll", name, "--public-key", str(public_key_file), "--voting") == 0
    assert name in capsys.readouterr().out

    assert await cerebro(mesh, *joining) == 0
    out = capsys.readouterr().out
    assert "now (new instance)" in out and "eu-west" in out
    instance_id = out.strip().splitlines()[-1].removeprefix("export CEREBRO_AGENT_INSTANCE_ID=")
    assert key_file.stat().st_mode & 0o777 == 0o600  # the key was created, private
    assert await cerebro(mesh, *joining, "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["instance"]["instanceId"] == instance_id and "created" not in again  # false is omitted in JSON

    signing = ("--key-file", str(key_file), "--instance-id", instance_id)
    assert await cerebro(mesh, "propose", "adopt joining from the CLI", *signing, "--json") == 0
    assert json.loads(capsys.readouterr().out)["proposal"]["proposerId"] == instance_id

    assert await cerebro(mesh, "join", f"{name}-other", "--key-file", str(key_file)) == 1
    assert capsys.readouterr().err.startswith("cerebro join: PERMISSION_DENIED: ")

    # Revoked: the instance is offline at once, and cannot join again; the audit trail keeps both acts.
    assert await operator(mesh, monkeypatch, "revoke", name, "--by", "test-operator") == 0
    assert await cerebro(mesh, *joining) == 1
    assert "not enrolled" in capsys.readouterr().err
    assert await operator(mesh, monkeypatch, "enrolled", "--all", "--json") == 0
    [record] = [item for item in json.loads(capsys.readouterr().out) if item["instance_name"] == name]
    assert record["voting"] and record["revoked_by"] == "test-operator" and record["revoked_at"]


async def test_remember_from_jsonl_stores_in_batches_and_resumes_without_duplicates(
    mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    turns = [{"content": f"turn {index}: NEXUS asked about replica {index}", "tags": ["chat"]} for index in range(7)]
    lines = [json.dumps(turn) for turn in turns]
    lines.insert(3, "")  # blank lines are skipped
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(lines[:5]) + "\n")
    assert await cerebro(mesh, "remember", "--from-jsonl", str(chat), "--batch-size", "3") == 0
    assert "4 episodes remembered" in capsys.readouterr().out
    # The rest of the log arrives; the same command again stores only the new lines.
    chat.write_text("\n".join(lines) + "\n")
    assert await cerebro(mesh, "remember", "--from-jsonl", str(chat), "--batch-size", "3") == 0
    assert "7 episodes remembered" in capsys.readouterr().out
    with CerebroClient(as_agent.settings(mesh)) as client:
        stored = await asyncio.to_thread(client.recent_episodes, page_size=100)
    assert sorted(episode.content for episode in stored.episodes) == sorted(turn["content"] for turn in turns)


async def test_remember_from_jsonl_names_the_bad_line(
    mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"content": "fine"}\n{"content": "unterminated\n')
    assert await cerebro(mesh, "remember", "--from-jsonl", str(chat)) == 2
    assert f"{chat}:2: not JSON" in capsys.readouterr().err
    chat.write_text('{"content": "fine"}\n["not", "an", "object"]\n')
    assert await cerebro(mesh, "remember", "--from-jsonl", str(chat)) == 2
    assert f"{chat}:2: not a JSON object" in capsys.readouterr().err
    # Valid JSON the gateway refuses: the batch is refused whole and the line is named.
    chat.write_text('{"content": "fine"}\n\n{"content": "   "}\n')
    assert await cerebro(mesh, "remember", "--from-jsonl", str(chat)) == 1
    err = capsys.readouterr().err
    assert f"{chat}, line 3: INVALID_ARGUMENT" in err and "episodes[1].content" in err
    assert await cerebro(mesh, "remember", "both", "--from-jsonl", str(chat)) == 2
    with CerebroClient(as_agent.settings(mesh)) as client:
        stored = await asyncio.to_thread(client.recent_episodes)
    assert list(stored.episodes) == []


async def test_errors_are_one_line_with_field_violations(
    mesh: Mesh, as_agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cerebro(mesh, "remember", "   ") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("cerebro remember: INVALID_ARGUMENT: ")
    assert "content: " in captured.err and len(captured.err.strip().splitlines()) == 1

    assert await cerebro(mesh, "blocks", "show", "missing") == 1
    assert capsys.readouterr().err.startswith("cerebro blocks: NOT_FOUND: ")
    assert await cerebro(mesh, "vote", "some-id", "yes") == 2
    assert "--key-file" in capsys.readouterr().err


async def test_keys_issue_list_revoke(
    mesh: Mesh, namespace: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CEREBRO_DATABASE_URL", mesh.database_url)
    token_file = mesh.data_dir / "tokens" / f"{namespace}.key"

    async def keys(*argv: str) -> int:
        return await run(parse("keys", *argv))

    assert await keys("--json", "issue", namespace, "--label", "cli test", "--token-file", str(token_file)) == 0
    issued = json.loads(capsys.readouterr().out)
    assert issued["namespace"] == namespace and issued["scope"] == "read-write"
    assert token_file.stat().st_mode & 0o777 == 0o600

    # The issued key works with the gateway commands.
    monkeypatch.setenv("CEREBRO_API_KEY_FILE", str(token_file))
    assert await cerebro(mesh, "remember", "issued by the CLI") == 0
    assert namespace in capsys.readouterr().out

    assert await keys("list", "--namespace", namespace) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["key", "id"] and lines[1].split()[:3] == [issued["key_id"], namespace, "read-write"]

    assert await keys("revoke", issued["key_id"]) == 0
    assert capsys.readouterr().out.strip() == f"revoked {issued['key_id']}"
    assert await keys("revoke", issued["key_id"]) == 1
    assert await keys("--json", "list", "--namespace", namespace, "--all") == 0
    [listed] = [key for key in json.loads(capsys.readouterr().out) if key["key_id"] == issued["key_id"]]
    assert listed["revoked_at"] is not None
    assert await keys("issue", "Not A Namespace") == 2
    assert "namespace" in capsys.readouterr().err


async def test_keys_grants_and_certificate_bindings(
    mesh: Mesh, namespace: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CEREBRO_DATABASE_URL", mesh.database_url)
    reader = f"{namespace}-reader"

    async def keys(*argv: str) -> int:
        return await run(parse("keys", *argv))

    assert await keys("grant", namespace, "--to", reader) == 2
    assert f"unknown namespace {namespace!r}" in capsys.readouterr().err
    await mesh.issue(namespace)
    await mesh.issue(reader)
    assert await keys("--json", "grant", namespace, "--to", reader) == 0
    assert json.loads(capsys.readouterr().out) == {
        "owner_namespace": namespace,
        "grantee_namespace": reader,
        "granted": True,
    }
    assert await keys("grant", namespace, "--to", reader) == 1
    assert capsys.readouterr().err.strip() == f"cerebro keys: {reader} may already read {namespace}'s memories"
    assert await keys("grants", "--namespace", reader) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["owner", "readable", "by", "granted"] and lines[1].split()[:2] == [namespace, reader]
    assert await keys("revoke-grant", namespace, "--from", reader) == 0
    assert await keys("revoke-grant", namespace, "--from", reader) == 1
    assert await keys("revoke-grant", namespace, "--from", "Not A Namespace") == 2
    assert "grantee namespace 'Not A Namespace'" in capsys.readouterr().err
    assert await keys("--json", "grants", "--namespace", reader) == 0
    assert capsys.readouterr().out.endswith("[]\n")

    identity = f"{namespace}.agents.test"
    assert await keys("bind-cert", identity, namespace, "--read-only") == 0
    assert "read-only" in capsys.readouterr().out
    assert await keys("bind-cert", identity, reader) == 2
    assert "already bound; unbind it first" in capsys.readouterr().err
    assert await keys("--json", "certs") == 0
    [bound] = [b for b in json.loads(capsys.readouterr().out) if b["identity"] == identity]
    assert (bound["namespace"], bound["scope"], bound["revoked_at"]) == (namespace, "read-only", None)
    assert await keys("unbind-cert", identity) == 0
    assert await keys("unbind-cert", identity) == 1
    assert f"no bound certificate identity {identity}" in capsys.readouterr().err


async def test_tasks_watch_list_ack_complete(
    mesh: Mesh, agent: Agent, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    skill = f"cli-{uuid.uuid4().hex[:6]}"
    worker = await new_agent(mesh, "worker", capabilities=[skill])
    async with AsyncCerebroClient(agent.settings(mesh)) as boss:
        task_id = (await boss.distribute_task("answer it", required_capabilities=[skill])).assignment.task_id
    monkeypatch.setenv("CEREBRO_API_KEY", worker.api_key)

    assert await cerebro(mesh, "tasks", "watch", "--count", "1", "--json") == 0
    [line] = capsys.readouterr().out.splitlines()
    delivered = json.loads(line)
    assert delivered["task"]["taskId"] == task_id and int(delivered["cursor"]) > 0
    assert await cerebro(mesh, "tasks", "list", "--state", "assigned") == 0
    assert task_id in capsys.readouterr().out

    assert await cerebro(mesh, "tasks", "complete", task_id) == 1
    assert capsys.readouterr().err.startswith("cerebro tasks complete: FAILED_PRECONDITION: ")
    assert await cerebro(mesh, "tasks", "ack", task_id) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert await cerebro(mesh, "tasks", "complete", task_id, "--result", '{"answer": 42}', "--json") == 0
    done = json.loads(capsys.readouterr().out)["task"]
    assert done["state"] == "TASK_STATE_SUCCEEDED" and done["result"] == {"answer": 42}
    with pytest.raises(SystemExit):
        parse("tasks", "complete", task_id, "--result", "[1]")
