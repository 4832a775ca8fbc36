"""The memory side of the Embedder: EmbedBatch, Embed and GetModelInfo over gRPC."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role

# Codes meaning "the Embedder could not do it now": the work is retried later.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


class EmbedderError(Exception):
    """An Embedder call failed; ``transient`` says whether retrying the same input can succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ModelInfo:
    embedding_version: str
    dimensions: int
    max_batch_texts: int


@dataclass(frozen=True)
class EmbeddedTexts:
    vectors: list[list[float]]
    embedding_version: str


def _error(call: str, error: grpc.aio.AioRpcError) -> EmbedderError:
    return EmbedderError(
        f"Embedder {call} failed: {error.code().name}: {error.details()}", transient=error.code() in TRANSIENT_CODES
    )


class EmbedderClient:
    def __init__(self, target: str, tls: TlsSettings | None, *, timeout_seconds: float) -> None:
        # Retries of UNAVAILABLE happen inside the channel, within each call's deadline.
        self._channel = open_channel(target, tls, server_role=Role.EMBEDDER, timeout_seconds=timeout_seconds)
        self._stub = embedder_pb2_grpc.EmbedderServiceStub(self._channel)
        self._timeout = timeout_seconds

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def model_info(self) -> ModelInfo:
        try:
            info = await self._stub.GetModelInfo(embedder_pb2.GetModelInfoRequest(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _error("GetModelInfo", error) from None
        return ModelInfo(info.embedding_version, info.dimensions, info.max_batch_texts)

    async def embed_batch(self, texts: list[str]) -> EmbeddedTexts:
        try:
            response = await self._stub.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=texts), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _error("EmbedBatch", error) from None
        if len(response.embeddings) != len(texts):
            raise EmbedderError(
                f"Embedder returned {len(response.embeddings)} embeddings for {len(texts)} texts", transient=True
            )
        return EmbeddedTexts([list(item.values) for item in response.embeddings], response.model_version)

    async def embed_query(self, text: str) -> EmbeddedTexts:
        try:
            response = await self._stub.Embed(embedder_pb2.EmbedRequest(text=text), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _error("Embed", error) from None
        return EmbeddedTexts([list(response.embedding)], response.model_version)
