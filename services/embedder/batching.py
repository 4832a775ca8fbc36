"""Dynamic micro-batching: concurrent embed requests share model calls, fairly, through a bounded queue.

Work is measured in word-pieces (tokens), because that is what a forward pass costs: a one-line text and a
full 254-token chunk differ ~10x in compute. Each model call takes at most `max_batch_tokens`, picking chunks
round-robin across the waiting requests, so one large EmbedBatch request cannot hold back a single-text
request for more than one model call. Inference runs on one dedicated thread: the model is used by one
caller at a time and there are only a couple of cores to share.

Before a model call the batcher may wait for companions of the oldest waiting request: a fixed wait when
`max_wait_seconds` is set, otherwise an adaptive one that only many concurrent callers pay for (see
`MicroBatcher._gather_companions`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from services.embedder.chunking import Chunk
from services.embedder.model import SPECIAL_TOKENS_PER_INPUT, EncodedTexts, Encoder, vectors_per_text

# ~0.5 s of model work on a 2-core CPU (~4k tokens/s): the longest a newcomer waits for the call in progress,
# while still giving ~75 short texts per call, which is past the point where bigger batches stop helping.
DEFAULT_MAX_BATCH_TOKENS = 2048
# No fixed wait: it would delay a lone request (5 ms measured on a ~4 ms single-query encode). A fixed wait
# can still be configured for bursty callers on an idle model.
DEFAULT_MAX_WAIT_SECONDS = 0.0
# Without a fixed wait, the longest a request waits for companions while recent model calls served several
# callers. Many single-text callers otherwise split into a call for the first arrival and one for the rest,
# and a model call on one short text does ~1/3 of the work per second of a call on many.
DEFAULT_ADAPTIVE_WAIT_SECONDS = 0.002
# How many recent model calls decide whether, and for how many callers, the adaptive wait waits.
RECENT_CALLS = 4
# Requests this small are split into chunks on the event loop: tokenizing them costs less than a thread hop.
INLINE_CHUNKING_CHARS = 2000
# ~30 s of backlog on that CPU: past it, telling clients to back off beats queueing them for longer.
DEFAULT_MAX_QUEUED_TOKENS = 131_072


class QueueFullError(Exception):
    """The queue already holds `max_queued_tokens` of work; the request was not accepted (retry later)."""


class RequestTooLargeError(ValueError):
    """One request holds more work than the whole queue may; it can never be accepted as it is."""


class BatcherClosedError(Exception):
    """The batcher is closed, or closed before it could finish this request."""


@dataclass(eq=False)
class _Request:
    chunks: list[Chunk]
    chunk_counts: tuple[int, ...]
    chunk_vectors: np.ndarray
    future: asyncio.Future[EncodedTexts]
    enqueued_at: float
    next_chunk: int = 0
    unfinished_chunks: int = field(init=False)

    def __post_init__(self) -> None:
        self.unfinished_chunks = len(self.chunks)


class MicroBatcher:
    """Coalesces concurrent `embed` calls into model calls on one worker thread.

    Call `close()` before the event loop ends: it finishes everything already accepted, or, if the close is
    itself cancelled (e.g. by a shutdown deadline), fails what is left with `BatcherClosedError`.
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        adaptive_wait_seconds: float = DEFAULT_ADAPTIVE_WAIT_SECONDS,
        max_queued_tokens: int = DEFAULT_MAX_QUEUED_TOKENS,
    ) -> None:
        if max_batch_tokens < encoder.max_tokens_per_chunk + SPECIAL_TOKENS_PER_INPUT:
            raise ValueError("max_batch_tokens must hold at least one full chunk")
        self._encoder = encoder
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_seconds = max_wait_seconds
        self.adaptive_wait_seconds = adaptive_wait_seconds
        self.max_queued_tokens = max_queued_tokens
        self.model_calls = 0
        # Distinct requests served by each of the last model calls.
        self.recent_callers: deque[int] = deque(maxlen=RECENT_CALLS)
        self.queued_tokens = 0  # accepted and not yet finished, in-flight included
        self._unsent_tokens = 0  # accepted and not yet handed to the model
        self._waiting: deque[_Request] = deque()  # requests with chunks not yet sent to the model
        self._accepted: set[_Request] = set()  # requests whose result is not yet set
        self._wakeup = asyncio.Event()
        self._closed = False
        self._worker: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-model")

    async def embed(self, texts: Sequence[str]) -> EncodedTexts:
        """Vectors for `texts`, in order.

        Raises `EmptyTextError` (a ValueError naming the text's index), `RequestTooLargeError`, `QueueFullError`
        (immediately, when accepting would exceed `max_queued_tokens`) or `BatcherClosedError`.
        """
        if self._closed:
            raise BatcherClosedError("the embedder is shutting down")
        if not texts:
            return EncodedTexts(np.empty((0, self._encoder.dimensions), dtype=np.float32), ())
        if self.queued_tokens >= self.max_queued_tokens:  # refuse before spending any work on the request
            raise QueueFullError(f"embedding queue is full ({self.queued_tokens} tokens waiting)")
        if sum(len(text) for text in texts) <= INLINE_CHUNKING_CHARS:
            per_text = self._chunk_texts(texts)
        else:  # off the event loop: tokenizing a long text takes ~0.7 s per MB
            per_text = await asyncio.to_thread(self._chunk_texts, texts)
        chunks = [chunk for text_chunks in per_text for chunk in text_chunks]
        tokens = sum(_cost(chunk) for chunk in chunks)
        if tokens > self.max_queued_tokens:
            raise RequestTooLargeError(
                f"request needs {tokens} tokens of work, more than the queue holds ({self.max_queued_tokens})"
            )
        if self._closed:
            raise BatcherClosedError("the embedder is shutting down")
        if self.queued_tokens + tokens > self.max_queued_tokens:
            raise QueueFullError(f"embedding queue is full ({self.queued_tokens} tokens waiting)")

        loop = asyncio.get_running_loop()
        request = _Request(
            chunks=chunks,
            chunk_counts=tuple(len(text_chunks) for text_chunks in per_text),
            chunk_vectors=np.empty((len(chunks), self._encoder.dimensions), dtype=np.float32),
            future=loop.create_future(),
            enqueued_at=loop.time(),
        )
        self.queued_tokens += tokens
        self._unsent_tokens += tokens
        self._waiting.append(request)
        self._accepted.add(request)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="embedder-batcher")
        self._wakeup.set()
        # If the caller is cancelled, so is this future, and the worker skips the request's remaining chunks.
        return await request.future

    async def close(self) -> None:
        """Refuse new requests, finish the accepted ones, then stop the worker thread."""
        self._closed = True
        self._wakeup.set()
        try:
            if self._worker is not None:
                await self._worker
        finally:
            self._thread.shutdown(wait=False, cancel_futures=True)

    def _chunk_texts(self, texts: Sequence[str]) -> list[list[Chunk]]:
        return [self._encoder.chunk(text, index=index) for index, text in enumerate(texts)]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._waiting:
                    if self._closed:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._gather_companions(loop)
                batch = self._take_batch()
                if batch:
                    await self._encode(loop, batch)
        finally:
            for request in self._accepted:
                if not request.future.done():
                    request.future.set_exception(BatcherClosedError("the embedder shut down first"))
            self._accepted.clear()

    async def _gather_companions(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for companions of the oldest waiting request, when waiting is worth it; never past a full batch.

        With `max_wait_seconds` set, until the oldest request has waited that long. Otherwise only while
        one of the last `RECENT_CALLS` model calls served several callers, until as many requests wait as
        the busiest of them served, and at most until the oldest request has waited `adaptive_wait_seconds`.
        A lone caller is never delayed: its model calls serve one caller each.
        """
        if self.max_wait_seconds > 0:
            wait, enough_requests = self.max_wait_seconds, None
        else:
            enough_requests = max(self.recent_callers, default=1)
            if enough_requests < 2 or self.adaptive_wait_seconds <= 0:
                return
            wait = self.adaptive_wait_seconds
        deadline = self._waiting[0].enqueued_at + wait
        while (
            not self._closed
            and self._unsent_tokens < self.max_batch_tokens
            and (enough_requests is None or len(self._waiting) < enough_requests)
        ):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[tuple[_Request, int]]:
        """Up to `max_batch_tokens` of chunks, one chunk per waiting request in turn (round-robin)."""
        batch: list[tuple[_Request, int]] = []
        budget = self.max_batch_tokens
        while self._waiting:
            request = self._waiting[0]
            if request.future.done():
                self._forget(self._waiting.popleft())
                continue
            cost = _cost(request.chunks[request.next_chunk])
            if cost > budget:
                break
            budget -= cost
            self._unsent_tokens -= cost
            batch.append((request, request.next_chunk))
            request.next_chunk += 1
            self._waiting.popleft()
            if request.next_chunk < len(request.chunks):
                self._waiting.append(request)
        return batch

    async def _encode(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[_Request, int]]) -> None:
        self.model_calls += 1
        self.recent_callers.append(len({request for request, _ in batch}))
        texts = [request.chunks[index].text for request, index in batch]
        try:
            vectors = await loop.run_in_executor(self._thread, self._encoder.encode_chunks, texts)
        except Exception as error:  # a model failure fails only the requests in this call
            for request, index in batch:
                self._finish_chunk(request, index)
                if not request.future.done():
                    request.future.set_exception(error)
            return
        for (request, index), vector in zip(batch, vectors, strict=True):
            request.chunk_vectors[index] = vector
            self._finish_chunk(request, index)
            if request.unfinished_chunks == 0 and not request.future.done():
                request.future.set_result(
                    EncodedTexts(vectors_per_text(request.chunk_vectors, request.chunk_counts), request.chunk_counts)
                )

    def _finish_chunk(self, request: _Request, index: int) -> None:
        request.unfinished_chunks -= 1
        self.queued_tokens -= _cost(request.chunks[index])
        if request.unfinished_chunks == 0:
            self._accepted.discard(request)

    def _forget(self, request: _Request) -> None:
        """Drop the unsent chunks of a request whose caller gave up or that already failed."""
        unsent = request.chunks[request.next_chunk :]
        unsent_tokens = sum(_cost(chunk) for chunk in unsent)
        self.queued_tokens -= unsent_tokens
        self._unsent_tokens -= unsent_tokens
        request.unfinished_chunks -= len(unsent)
        request.next_chunk = len(request.chunks)
        if request.unfinished_chunks == 0:
            self._accepted.discard(request)


def _cost(chunk: Chunk) -> int:
    """Word-pieces the model runs for this chunk, [CLS] and [SEP] included."""
    return chunk.token_count + SPECIAL_TOKENS_PER_INPUT
