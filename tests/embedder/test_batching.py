"""The micro-batcher shares model calls between concurrent callers, fairly, within a bounded queue."""

import asyncio
import time

import numpy as np
import pytest

from services.embedder.batching import BatcherClosedError, MicroBatcher, QueueFullError, RequestTooLargeError
from services.embedder.model import EmptyTextError, Encoder

LONG_TEXT = " ".join(f"Observation {n}: the agent noted that the cache warmed up slowly." for n in range(100))


async def wait_until_queued(batcher: MicroBatcher) -> None:
    """Chunking of a large request happens on a thread before it is queued; wait until it is."""
    while batcher.queued_tokens == 0:
        await asyncio.sleep(0.001)


async def test_each_caller_gets_its_own_vectors_in_order(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder)
    requests = [[f"memory {n}", f"fact {n} about agents"] for n in range(10)] + [[LONG_TEXT, "last"]]

    results = await asyncio.gather(*(batcher.embed(texts) for texts in requests))
    await batcher.close()

    for texts, result in zip(requests, results, strict=True):
        expected = torch_encoder.encode_texts(texts)
        assert result.chunk_counts == expected.chunk_counts
        np.testing.assert_allclose(result.vectors, expected.vectors, atol=1e-5)


async def test_concurrent_requests_share_one_model_call(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, max_wait_seconds=0.5)

    results = await asyncio.gather(*(batcher.embed([f"single text {n}"]) for n in range(20)))
    await batcher.close()

    assert len(results) == 20
    assert batcher.model_calls == 1


async def test_a_single_text_is_not_stuck_behind_a_big_request(torch_encoder: Encoder) -> None:
    # A budget of about two chunks per call: the big request needs many calls.
    batcher = MicroBatcher(torch_encoder, max_batch_tokens=512, max_wait_seconds=0)
    big = asyncio.create_task(batcher.embed([LONG_TEXT] * 4))
    await wait_until_queued(batcher)

    single = await batcher.embed(["a quick question"])

    assert single.vectors.shape == (1, 384)
    assert not big.done()
    assert (await big).chunk_counts[0] > 4
    await batcher.close()


async def test_a_full_queue_refuses_at_once_and_accepts_again_after(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, max_queued_tokens=4000)
    first = asyncio.create_task(batcher.embed([LONG_TEXT, LONG_TEXT]))
    await wait_until_queued(batcher)

    with pytest.raises(QueueFullError):
        await batcher.embed([LONG_TEXT])

    await first
    assert batcher.queued_tokens == 0
    assert (await batcher.embed([LONG_TEXT])).vectors.shape == (1, 384)
    await batcher.close()


async def test_a_request_bigger_than_the_queue_is_refused(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, max_queued_tokens=1000)

    with pytest.raises(RequestTooLargeError):
        await batcher.embed([LONG_TEXT])

    assert batcher.queued_tokens == 0
    await batcher.close()


async def test_empty_text_is_refused_with_its_index(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder)

    with pytest.raises(EmptyTextError) as raised:
        await batcher.embed(["fine", "fine too", "  "])

    assert raised.value.index == 2
    assert (await batcher.embed([])).vectors.shape == (0, 384)
    await batcher.close()


async def test_a_cancelled_caller_frees_its_queue_space(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, max_batch_tokens=512)
    big = asyncio.create_task(batcher.embed([LONG_TEXT] * 4))
    await wait_until_queued(batcher)

    big.cancel()
    await batcher.embed(["still served"])
    calls_after_cancel = batcher.model_calls

    assert batcher.queued_tokens == 0
    await batcher.close()
    assert batcher.model_calls == calls_after_cancel


async def test_close_finishes_accepted_requests_then_refuses_new_ones(torch_encoder: Encoder) -> None:
    # A long wait for companions holds every request in the queue until close() says to stop waiting.
    batcher = MicroBatcher(torch_encoder, max_batch_tokens=8192, max_wait_seconds=60)
    requests = [[LONG_TEXT, f"text {n}"] for n in range(3)]
    pending = [asyncio.create_task(batcher.embed(texts)) for texts in requests]
    all_tokens = sum(
        chunk.token_count + 2 for texts in requests for text in texts for chunk in torch_encoder.chunk(text)
    )
    while batcher.queued_tokens < all_tokens:
        await asyncio.sleep(0.001)
    assert batcher.model_calls == 0

    await batcher.close()

    assert all(task.done() and task.result().vectors.shape == (2, 384) for task in pending)
    with pytest.raises(BatcherClosedError):
        await batcher.embed(["too late"])


async def test_close_cut_short_fails_what_is_left(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, max_batch_tokens=512)
    big = asyncio.create_task(batcher.embed([LONG_TEXT] * 4))
    await wait_until_queued(batcher)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(batcher.close(), timeout=0.05)

    with pytest.raises(BatcherClosedError):
        await big


async def staggered(batcher: MicroBatcher, count: int, gap_seconds: float) -> None:
    """`count` single-text callers arriving `gap_seconds` apart, as clients whose replies went out together."""

    async def caller(n: int) -> None:
        await asyncio.sleep(n * gap_seconds)
        await batcher.embed([f"staggered caller {n}"])

    await asyncio.gather(*(caller(n) for n in range(count)))


async def test_a_lone_caller_is_not_delayed_by_the_adaptive_wait(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, adaptive_wait_seconds=5.0)

    started = time.monotonic()
    for n in range(5):
        await batcher.embed([f"one question at a time {n}"])
    elapsed = time.monotonic() - started
    await batcher.close()

    assert list(batcher.recent_callers) == [1, 1, 1, 1]
    assert batcher.model_calls == 5
    assert elapsed < 5.0  # a single adaptive wait would have taken 5 s


async def test_after_calls_that_served_many_callers_the_next_call_waits_for_as_many(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, adaptive_wait_seconds=5.0)
    await asyncio.gather(*(batcher.embed([f"burst {n}"]) for n in range(8)))
    assert list(batcher.recent_callers) == [8]

    started = time.monotonic()
    await staggered(batcher, 8, gap_seconds=0.02)
    elapsed = time.monotonic() - started
    await batcher.close()

    # One model call for the eight staggered callers, started as soon as the eighth arrived.
    assert list(batcher.recent_callers) == [8, 8]
    assert elapsed < 5.0


async def test_without_the_adaptive_wait_staggered_callers_split_into_several_calls(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, adaptive_wait_seconds=0)
    await asyncio.gather(*(batcher.embed([f"burst {n}"]) for n in range(8)))

    await staggered(batcher, 8, gap_seconds=0.02)
    await batcher.close()

    assert batcher.model_calls > 2


async def test_the_adaptive_wait_ends_at_its_limit_and_fades_with_a_lone_caller(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, adaptive_wait_seconds=1.0)
    await asyncio.gather(*(batcher.embed([f"burst {n}"]) for n in range(8)))

    waits = []
    for n in range(6):
        started = time.monotonic()
        await batcher.embed([f"left alone {n}"])
        waits.append(time.monotonic() - started)
    await batcher.close()

    # The busy call is remembered for RECENT_CALLS calls: each waits 1 s for companions that never come.
    assert all(wait >= 1.0 for wait in waits[:4])
    assert all(wait < 1.0 for wait in waits[4:])


async def test_an_explicit_wait_applies_even_to_a_lone_caller(torch_encoder: Encoder) -> None:
    batcher = MicroBatcher(torch_encoder, max_wait_seconds=0.3, adaptive_wait_seconds=0)

    started = time.monotonic()
    await batcher.embed(["waits for companions that may come"])
    elapsed = time.monotonic() - started
    await batcher.close()

    assert elapsed >= 0.3
