"""The onnx-int8 backend: built once and cached, checked against fp32 before it serves, refused when it disagrees."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from cerebro.runtime.config import ConfigError
from services.embedder.agreement import MIN_COSINE, PROBE_TEXTS
from services.embedder.graph_cache import digest
from services.embedder.model import INT8_GRAPH, Backend, Encoder
from services.embedder.settings import EmbedderSettings

TEXTS = [
    "ok",
    "The deploy failed at 14:02 because the disk was full.",
    "Can you remind me what we decided about the database migration last Tuesday?",
    "\n\n".join(
        f"Paragraph {p}: the agent observed that replica {p} lagged behind by {p * 9} ms." * 6 for p in range(8)
    ),
]


def int8_graph_file(cache: Path) -> Path:
    (path,) = cache.glob(f"{INT8_GRAPH}-*.onnx")
    return path


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_int8_serves_vectors_interchangeable_with_fp32(int8_encoder: Encoder, torch_encoder: Encoder) -> None:
    assert int8_encoder.backend is Backend.ONNX_INT8
    assert int8_encoder.agreement is not None
    assert int8_encoder.agreement.min_cosine >= MIN_COSINE
    assert int8_encoder.agreement.texts == len(PROBE_TEXTS)

    encoded = int8_encoder.encode_texts(TEXTS)
    reference = torch_encoder.encode_texts(TEXTS)

    assert encoded.chunk_counts == reference.chunk_counts
    assert encoded.chunk_counts[-1] > 1
    assert cosines(encoded.vectors, reference.vectors).min() >= MIN_COSINE
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors, axis=1), 1.0, atol=1e-5)


def test_int8_shares_the_embedding_version_of_fp32(int8_encoder: Encoder, onnx_encoder: Encoder) -> None:
    assert int8_encoder.embedding_version == onnx_encoder.embedding_version


def test_a_text_gets_the_same_int8_vector_whatever_shares_its_model_call(int8_encoder: Encoder) -> None:
    together = int8_encoder.encode_texts(TEXTS).vectors
    alone = np.concatenate([int8_encoder.encode_texts([text]).vectors for text in TEXTS])

    assert cosines(together, alone).min() > 0.999


def test_a_second_start_loads_the_cached_graphs(int8_encoder: Encoder, model_cache: Path) -> None:
    files = {path: path.stat().st_mtime_ns for path in model_cache.glob("*.onnx*")}

    again = Encoder(Backend.ONNX_INT8, cache_dir=model_cache)

    assert again.backend is Backend.ONNX_INT8
    assert {path: path.stat().st_mtime_ns for path in model_cache.glob("*.onnx*")} == files
    assert len(files) == 4  # fp32 and int8, each with its checksum


def test_a_corrupt_cached_int8_graph_is_rebuilt(
    int8_encoder: Encoder, model_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(model_cache, cache)
    graph = int8_graph_file(cache)
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])  # a disk that lost the end of the file

    with caplog.at_level(logging.WARNING):
        encoder = Encoder(Backend.ONNX_INT8, cache_dir=cache)

    assert "damaged or incomplete" in caplog.text
    assert encoder.backend is Backend.ONNX_INT8
    assert graph.read_bytes() == int8_graph_file(model_cache).read_bytes()


def test_an_int8_graph_that_disagrees_with_fp32_is_refused_and_fp32_serves(
    int8_encoder: Encoder, onnx_encoder: Encoder, model_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An intact file (its checksum matches) whose weights are off: what another quantizer or kernel could give.
    cache = tmp_path / "cache"
    shutil.copytree(model_cache, cache)
    graph_file = int8_graph_file(cache)
    graph = onnx.load_from_string(graph_file.read_bytes())
    for initializer in graph.graph.initializer:
        if initializer.name.endswith("_scales"):
            initializer.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(initializer) * 1.3, initializer.name))
    tampered = graph.SerializeToString()
    graph_file.write_bytes(tampered)
    graph_file.with_name(graph_file.name + ".sha256").write_text(digest(tampered))

    with caplog.at_level(logging.ERROR):
        encoder = Encoder(Backend.ONNX_INT8, cache_dir=cache)

    assert encoder.backend is Backend.ONNX
    assert encoder.agreement is not None and encoder.agreement.min_cosine < MIN_COSINE
    assert "disagrees with fp32" in caplog.text
    np.testing.assert_allclose(encoder.encode_texts(TEXTS).vectors, onnx_encoder.encode_texts(TEXTS).vectors, atol=1e-5)
    assert encoder.embedding_version == onnx_encoder.embedding_version


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_backend_is_chosen_by_configuration(backend: str) -> None:
    settings = EmbedderSettings.from_env({"CEREBRO_EMBEDDER_BACKEND": backend, "CEREBRO_EMBEDDER_CACHE_DIR": "/c"})

    assert settings.backend == backend
    assert settings.cache_dir == Path("/c")


def test_an_unknown_backend_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="CEREBRO_EMBEDDER_BACKEND"):
        EmbedderSettings.from_env({"CEREBRO_EMBEDDER_BACKEND": "int4"})
