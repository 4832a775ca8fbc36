"""A minimal NEXUS-style agent loop on the Cerebro client: remember, recall, correct and forget, organise
projects, working memory, blocks, checkpoints and knowledge, take a task, then propose and vote.

Run it against `cerebro up` (see examples/README.md for the API key and the enrolment of the agent's key):

    CEREBRO_API_KEY_FILE=~/.cerebro/secrets/nexus_api_key PYTHONPATH=. python examples/nexus_agent.py

Settings: CEREBRO_GATEWAY_TARGET (localhost:50051), CEREBRO_API_KEY(_FILE), CEREBRO_AGENT_NAME (NEXUS; the
instance the API key is bound to), CEREBRO_AGENT_KEY_FILE (~/.cerebro/agents/<name>.pem, whose public half an
operator enrolled with `cerebro instances enroll`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from cerebro.client import AsyncCerebroClient, CerebroError, NotFound
from cerebro.consensus.names import PROPOSAL_STATES
from cerebro.gateway.v1 import resources_pb2
from cerebro.memory.v1 import episodes_pb2, semantic_pb2

TASK_STATES = {number: name.removeprefix("TASK_STATE_") for name, number in resources_pb2.TaskState.items()}


async def agent_loop(name: str, key_file: Path) -> None:
    async with AsyncCerebroClient() as cerebro:
        # 0. Join the instance network with the agent's own signing key: the gateway forwards what the agent
        #    signs and never signs for it. The client renews the lease until it is closed.
        own_capability = f"agent:{name}"  # only this agent has it, so the task below comes to it
        joined = await cerebro.register_instance(name, key_file, capabilities=["memory_management", own_capability])
        print(f"{name} joined the mesh as instance {joined.instance.instance_id}")

        # 1. Remember what just happened, as plain content and as a document-004 style action.
        await cerebro.remember(f"{name} started a session and checked the mesh", tags=["session"])
        await cerebro.remember(
            action_type="system_optimization_complete",
            action_details={"component": "reconnect backoff", "gain_percent": 35},
            context_state={"load": "low"},
            tags=["ops"],
            importance=0.8,
        )

        # 2. Recall by meaning and text.
        recalled = await cerebro.recall("reconnect backoff optimization", top_k=3)
        for hit in recalled.hits:
            print(f"recalled ({hit.fused_score:.3f}): {hit.episode.content}")

        # 2b. Correct what was remembered (new content is embedded again), file work under a project, and
        #     forget: one episode by id, and every episode a filter matches (counted first, in a dry run).
        project = (await cerebro.create_project(f"{name} session {datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}")).project
        note = (await cerebro.remember("the backoff is linear", tags=["draft"], project_id=project.project_id)).episode
        corrected = await cerebro.update_episode(note.episode_id, content="the backoff is exponential with jitter")
        print(f"corrected episode {note.episode_id}: {corrected.episode.content}")
        print(f"project {(await cerebro.get_project(project.project_id)).project.display_name}")
        listed = await cerebro.list_projects(page_size=10)
        print(f"{len(listed.projects)} project(s); archiving {project.project_id}")
        await cerebro.archive_project(project.project_id)
        scratch = (await cerebro.remember("a scratch note", tags=["scratch"])).episode
        await cerebro.delete_episode(scratch.episode_id)
        drafts = episodes_pb2.EpisodeFilter(tags=["draft"])
        print(f"a dry run would forget {(await cerebro.forget_episodes(drafts)).forget_count} draft(s)")
        print(f"forgot {(await cerebro.forget_episodes(drafts, force=True)).forget_count} draft(s)")

        # 2c. Working memory is short-lived: drop an item once the step is done.
        item = (await cerebro.put_working_memory({"step": "check the mesh"}, context_type="task")).item
        await cerebro.delete_working_memory(item.item_id)

        # 2d. A memory block's history: every version is kept.
        try:
            await cerebro.get_block("session_notes")
        except NotFound:
            await cerebro.create_block("session_notes", "Started.")
        await cerebro.update_block("session_notes", value=f"Last session: {datetime.now(UTC):%Y-%m-%d %H:%M}.")
        revisions = (await cerebro.list_block_revisions("session_notes", page_size=5)).revisions
        print(f"session_notes versions: {[revision.version for revision in revisions]}")

        # 2e. Knowledge: store a concept, look it up by name, list it, and forget it again.
        knowledge = (
            await cerebro.upsert_knowledge(
                semantic_pb2.SemanticMemory(concept="reconnect backoff", definition="exponential, with jitter")
            )
        ).knowledge
        assert (await cerebro.get_knowledge(knowledge.semantic_memory_id)).knowledge.concept == "reconnect backoff"
        looked_up = (await cerebro.lookup_knowledge("Reconnect Backoff")).knowledge
        print(f"knowledge of 'Reconnect Backoff': {looked_up.definition}")
        print(f"{len((await cerebro.list_knowledge(page_size=10)).knowledge)} piece(s) of knowledge")
        await cerebro.delete_knowledge(knowledge.semantic_memory_id)

        # 3. Checkpoint the session, and see how much the identity changed since.
        checkpoint = (await cerebro.create_checkpoint("session", {"focus": "mesh health"})).checkpoint
        restored = await cerebro.restore_checkpoint(checkpoint.checkpoint_id)
        print(f"checkpoint {checkpoint.checkpoint_id}: continuity {restored.continuity_score:.2f}")
        sessions = (await cerebro.list_checkpoints(checkpoint_type="session", page_size=5)).checkpoints
        fetched = (await cerebro.get_checkpoint(sessions[0].checkpoint_id)).checkpoint
        print(f"{len(sessions)} session checkpoint(s), the latest holding {dict(fetched.state_data)}")

        # 4. Share how the session feels; a watch sends the mesh's shared state now, then after each change.
        await cerebro.update_emotional_state(focus=0.8, energy=0.6, excitement=0.4)
        watch = cerebro.watch_emotional_state()
        shared = (await anext(watch)).state
        await watch.aclose()  # type: ignore[attr-defined]
        print(f"shared emotional state: {len(shared.members)} member(s), mean focus {shared.mean.focus:.2f}")

        # 5. Distribute a task, receive it in the inbox (at least once: until acknowledged, it comes again on
        #    every new stream), acknowledge it, report progress and complete it; then read it as its distributor.
        assigned = (
            await cerebro.distribute_task("Measure the reconnect backoff", required_capabilities=[own_capability])
        ).assignment
        async for delivery in cerebro.watch_tasks():
            if delivery.task.task_id == assigned.task_id:
                break
        await cerebro.acknowledge_task(assigned.task_id)
        await cerebro.report_task_progress(assigned.task_id, progress=0.5, status_message="measuring")
        await cerebro.complete_task(assigned.task_id, result={"p99_reconnect_ms": 840})
        task = (await cerebro.get_task(assigned.task_id)).task
        print(f"task {task.task_id}: {TASK_STATES[task.state]} by {task.assignment.instance.instance_name}")

        # 6. Propose a decision to the mesh and vote on it; 2/3 of the voting instances decide.
        proposal = (await cerebro.propose("Adopt the tuned reconnect backoff everywhere?")).proposal
        voted = (await cerebro.vote(proposal.proposal_id, "yes")).proposal
        tally = ", ".join(f"{entry.option}={entry.votes}" for entry in voted.tally)
        print(
            f"proposal {voted.proposal_id}: {PROPOSAL_STATES[voted.state]} "
            f"({tally}; quorum {voted.quorum} of {voted.electorate_size})"
        )


def main() -> int:
    name = os.environ.get("CEREBRO_AGENT_NAME", "NEXUS")
    key_file = Path(os.environ.get("CEREBRO_AGENT_KEY_FILE", f"~/.cerebro/agents/{name}.pem")).expanduser()
    try:
        asyncio.run(agent_loop(name, key_file))
    except CerebroError as error:
        print(f"{name}: {error.one_line()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
