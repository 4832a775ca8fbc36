"""A small real gRPC EmbedderService for the memory tests: deterministic bag-of-words vectors.

It serves the real `cerebro.embedder.v1` contract over a loopback port, so the memory service and
its worker talk to it exactly as to the real Embedder, but it needs no model and lets a test make it
slow (hold), fail a text (poison), change its embedding version, or go down and come back.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re

import grpc

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.server import server_credentials

DIMENSIONS = 384
POISON = "poison-pill"


def vector_of(text: str) -> list[float]:
    """L2-normalised sum of one signed unit axis per word: texts sharing words have similar vectors."""
    values = [0.0] * DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        values[int.from_bytes(digest[:4], "big") % DIMENSIONS] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(value * value for value in values))
    if norm == 0:
        values[0], norm = 1.0, 1.0
    return [value / norm for value in values]


class EmbedderDouble(embedder_pb2_grpc.EmbedderServiceServicer):
    def __init__(self) -> None:
        self.version = "double-bow-384@1"
        self.max_batch_texts = 512
        self.released = asyncio.Event()
        self.released.set()
        self.batch_calls = 0
        self.embedded_texts: list[str] = []
        self.waiting = 0
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def hold(self) -> None:
        """EmbedBatch calls wait until :meth:`release`."""
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    async def start(self, tls: TlsSettings | None = None) -> None:
        """Serve on loopback; with ``tls`` (an embedder certificate of a test mesh CA), with mutual TLS."""
        server = grpc.aio.server()
        embedder_pb2_grpc.add_EmbedderServiceServicer_to_server(self, server)
        address = f"127.0.0.1:{self.port}"
        self.port = (
            server.add_insecure_port(address)
            if tls is None
            else server.add_secure_port(address, server_credentials(tls))
        )
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        return embedder_pb2.EmbedResponse(embedding=vector_of(request.text), chunk_count=1, model_version=self.version)

    async def EmbedBatch(
        self, request: embedder_pb2.EmbedBatchRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedBatchResponse:
        self.batch_calls += 1
        self.waiting += 1
        try:
            await self.released.wait()
        finally:
            self.waiting -= 1
        if any(POISON in text for text in request.texts):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the double refuses poisoned text")
        self.embedded_texts.extend(request.texts)
        return embedder_pb2.EmbedBatchResponse(
            embeddings=[embedder_pb2.Embedding(values=vector_of(text), chunk_count=1) for text in request.texts],
            model_version=self.version,
        )

    async def GetModelInfo(
        self, request: embedder_pb2.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.GetModelInfoResponse:
        return embedder_pb2.GetModelInfoResponse(
            model_name="test-double",
            dimensions=DIMENSIONS,
            embedding_version=self.version,
            backend="double",
            max_text_bytes=1 << 20,
            max_batch_texts=self.max_batch_texts,
        )
