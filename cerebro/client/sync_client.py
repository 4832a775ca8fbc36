"""CerebroClient: the blocking face of AsyncCerebroClient, for code without an event loop.

It runs one AsyncCerebroClient on a private event loop in a daemon thread and waits for each call, so
both clients share every method, retry and error. Each method below has the signature of its
asynchronous namesake and returns its result (streams: a plain iterator).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from cerebro.client.async_client import AsyncCerebroClient
from cerebro.client.settings import ClientSettings
from cerebro.client.signing import AgentSigner

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[AsyncCerebroClient, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[CerebroClient, P], R]:
    def call(self: CerebroClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(method(self._client, *args, **kwargs))

    # In place (not functools.wraps): the method keeps its own signature for type checkers.
    functools.update_wrapper(call, method)
    return call


def _blocking_stream(
    method: Callable[Concatenate[AsyncCerebroClient, P], AsyncIterator[R]],
) -> Callable[Concatenate[CerebroClient, P], Iterator[R]]:
    def call(self: CerebroClient, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        return self._iterate(method(self._client, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


async def _next(stream: AsyncIterator[R]) -> R:
    return await anext(stream)


class CerebroClient:
    """Blocking client; use ``with CerebroClient(...) as client`` or call :meth:`close`."""

    def __init__(self, settings: ClientSettings | None = None, *, signer: AgentSigner | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cerebro-client", daemon=True)
        self._thread.start()
        # The grpc.aio channel must be created on the loop that will use it.
        self._client: AsyncCerebroClient = self._run(_create(settings, signer))

    def __enter__(self) -> CerebroClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def settings(self) -> ClientSettings:
        return self._client.settings

    @property
    def signer(self) -> AgentSigner | None:
        return self._client.signer

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _iterate(self, stream: AsyncIterator[R]) -> Iterator[R]:
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():
                self._run(stream.aclose())  # type: ignore[attr-defined]

    remember = _blocking(AsyncCerebroClient.remember)
    remember_batch = _blocking(AsyncCerebroClient.remember_batch)
    recall = _blocking(AsyncCerebroClient.recall)
    recent_episodes = _blocking(AsyncCerebroClient.recent_episodes)
    update_episode = _blocking(AsyncCerebroClient.update_episode)
    delete_episode = _blocking(AsyncCerebroClient.delete_episode)
    forget_episodes = _blocking(AsyncCerebroClient.forget_episodes)
    create_project = _blocking(AsyncCerebroClient.create_project)
    get_project = _blocking(AsyncCerebroClient.get_project)
    list_projects = _blocking(AsyncCerebroClient.list_projects)
    archive_project = _blocking(AsyncCerebroClient.archive_project)
    list_working_memory = _blocking(AsyncCerebroClient.list_working_memory)
    get_working_memory = _blocking(AsyncCerebroClient.get_working_memory)
    put_working_memory = _blocking(AsyncCerebroClient.put_working_memory)
    delete_working_memory = _blocking(AsyncCerebroClient.delete_working_memory)
    list_blocks = _blocking(AsyncCerebroClient.list_blocks)
    get_block = _blocking(AsyncCerebroClient.get_block)
    create_block = _blocking(AsyncCerebroClient.create_block)
    update_block = _blocking(AsyncCerebroClient.update_block)
    list_block_revisions = _blocking(AsyncCerebroClient.list_block_revisions)
    create_checkpoint = _blocking(AsyncCerebroClient.create_checkpoint)
    restore_checkpoint = _blocking(AsyncCerebroClient.restore_checkpoint)
    list_checkpoints = _blocking(AsyncCerebroClient.list_checkpoints)
    get_checkpoint = _blocking(AsyncCerebroClient.get_checkpoint)
    get_identity_state = _blocking(AsyncCerebroClient.get_identity_state)
    update_identity_state = _blocking(AsyncCerebroClient.update_identity_state)
    heartbeat = _blocking(AsyncCerebroClient.heartbeat)
    upsert_knowledge = _blocking(AsyncCerebroClient.upsert_knowledge)
    search_knowledge = _blocking(AsyncCerebroClient.search_knowledge)
    get_knowledge = _blocking(AsyncCerebroClient.get_knowledge)
    lookup_knowledge = _blocking(AsyncCerebroClient.lookup_knowledge)
    list_knowledge = _blocking(AsyncCerebroClient.list_knowledge)
    delete_knowledge = _blocking(AsyncCerebroClient.delete_knowledge)
    connected_instances = _blocking(AsyncCerebroClient.connected_instances)
    register_instance = _blocking(AsyncCerebroClient.register_instance)
    renew_instance_lease = _blocking(AsyncCerebroClient.renew_instance_lease)
    deregister_instance = _blocking(AsyncCerebroClient.deregister_instance)
    propose = _blocking(AsyncCerebroClient.propose)
    vote = _blocking(AsyncCerebroClient.vote)
    get_decision = _blocking(AsyncCerebroClient.get_decision)
    watch_decisions = _blocking_stream(AsyncCerebroClient.watch_decisions)
    publish_learning = _blocking(AsyncCerebroClient.publish_learning)
    subscribe_learnings = _blocking_stream(AsyncCerebroClient.subscribe_learnings)
    acknowledge_learnings = _blocking(AsyncCerebroClient.acknowledge_learnings)
    get_emotional_state = _blocking(AsyncCerebroClient.get_emotional_state)
    watch_emotional_state = _blocking_stream(AsyncCerebroClient.watch_emotional_state)
    update_emotional_state = _blocking(AsyncCerebroClient.update_emotional_state)
    distribute_task = _blocking(AsyncCerebroClient.distribute_task)
    watch_tasks = _blocking_stream(AsyncCerebroClient.watch_tasks)
    watch_task = _blocking_stream(AsyncCerebroClient.watch_task)
    get_task = _blocking(AsyncCerebroClient.get_task)
    list_tasks = _blocking(AsyncCerebroClient.list_tasks)
    acknowledge_task = _blocking(AsyncCerebroClient.acknowledge_task)
    report_task_progress = _blocking(AsyncCerebroClient.report_task_progress)
    complete_task = _blocking(AsyncCerebroClient.complete_task)
    fail_task = _blocking(AsyncCerebroClient.fail_task)
    stats = _blocking(AsyncCerebroClient.stats)
    health = _blocking(AsyncCerebroClient.health)


async def _create(settings: ClientSettings | None, signer: AgentSigner | None) -> AsyncCerebroClient:
    return AsyncCerebroClient(settings, signer=signer)
