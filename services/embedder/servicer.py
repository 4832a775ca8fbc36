"""`cerebro.embedder.v1.EmbedderService`: validation at the edge, embedding through the micro-batcher."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.runtime.errors import FieldViolation, invalid_argument, resource_exhausted
from services.embedder.batching import MicroBatcher, QueueFullError, RequestTooLargeError
from services.embedder.model import EmptyTextError, EncodedTexts, Encoder
from services.embedder.settings import EmbedderSettings

# A full queue drains in well under this; clients back off at least this long.
RETRY_AFTER_SECONDS = 0.05


def text_violations(field: str, text: str, max_bytes: int) -> list[FieldViolation]:
    if not text.strip():
        return [(field, "must contain non-whitespace text")]
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return [(field, f"is {size} bytes; the limit is {max_bytes} bytes")]
    return []


class EmbedderServicer(embedder_pb2_grpc.EmbedderServiceServicer):
    def __init__(self, encoder: Encoder, batcher: MicroBatcher, settings: EmbedderSettings) -> None:
        self._encoder = encoder
        self._batcher = batcher
        self._settings = settings

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        violations = text_violations("text", request.text, self._settings.max_text_bytes)
        if violations:
            raise invalid_argument(violations)
        result = await self._embed([request.text], field=lambda index: "text")
        return embedder_pb2.EmbedResponse(
            embedding=result.vectors[0].tolist(),
            chunk_count=result.chunk_counts[0],
            model_version=self._encoder.embedding_version,
        )

    async def EmbedBatch(
        self, request: embedder_pb2.EmbedBatchRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedBatchResponse:
        texts = list(request.texts)
        limit = self._settings.max_batch_texts
        if not texts:
            raise invalid_argument([("texts", "must contain at least one text")])
        if len(texts) > limit:
            raise invalid_argument([("texts", f"has {len(texts)} texts; the limit is {limit}")])
        violations = [
            violation
            for index, text in enumerate(texts)
            for violation in text_violations(f"texts[{index}]", text, self._settings.max_text_bytes)
        ]
        if violations:
            raise invalid_argument(violations)
        result = await self._embed(texts, field=lambda index: f"texts[{index}]")
        return embedder_pb2.EmbedBatchResponse(
            embeddings=[
                embedder_pb2.Embedding(values=vector.tolist(), chunk_count=count)
                for vector, count in zip(result.vectors, result.chunk_counts, strict=True)
            ],
            model_version=self._encoder.embedding_version,
        )

    async def GetModelInfo(
        self, request: embedder_pb2.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.GetModelInfoResponse:
        encoder = self._encoder
        return embedder_pb2.GetModelInfoResponse(
            model_name=encoder.model_name,
            dimensions=encoder.dimensions,
            max_tokens_per_chunk=encoder.max_tokens_per_chunk,
            chunk_overlap_tokens=encoder.overlap_tokens,
            embedding_version=encoder.embedding_version,
            backend=encoder.backend,
            max_text_bytes=self._settings.max_text_bytes,
            max_batch_texts=self._settings.max_batch_texts,
        )

    async def _embed(self, texts: list[str], field: Callable[[int], str]) -> EncodedTexts:
        """Embed through the batcher; ``field(index)`` names the request field of text ``index``."""
        try:
            return await self._batcher.embed(texts)
        except QueueFullError:
            raise resource_exhausted("the embedding queue is full; retry shortly", RETRY_AFTER_SECONDS) from None
        except EmptyTextError as error:
            raise invalid_argument([(field(error.index), "has no text the model can encode")]) from None
        except RequestTooLargeError as error:
            raise invalid_argument([(field(0) if len(texts) == 1 else "texts", str(error))]) from None
