"""In-process Encoder throughput per backend, short and long texts, printed as a markdown table.

    PYTHONPATH=. .venv/bin/python bench/embedder_inprocess.py [--runs 5] [--threads N] [--cache-dir DIR]

Each cell is the median of `--runs` timed runs of the workload through `Encoder.encode_texts`, after one
warm-up call; the backends take turns within each run, so a busy machine slows them alike. The last table
compares each backend's vectors with PyTorch's for the same texts (cosine similarity; the realistic-text
agreement and retrieval figures are bench/embedder_quality.py's).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from services.embedder.model import Backend, Encoder

WORDS = [
    "agent",
    "memory",
    "episode",
    "cluster",
    "deploy",
    "failed",
    "because",
    "disk",
    "full",
    "cache",
    "warmed",
    "slowly",
    "consensus",
    "vote",
    "quorum",
    "replica",
    "region",
    "latency",
    "request",
    "answer",
    "source",
    "link",
    "summary",
    "decision",
    "review",
    "token",
    "window",
    "chunk",
    "vector",
    "search",
    "index",
    "namespace",
    "owner",
    "private",
    "shared",
    "grant",
    "policy",
    "retry",
    "queue",
    "batch",
    "model",
    "embedding",
    "database",
    "redis",
    "postgres",
    "migration",
    "schema",
    "version",
    "backup",
    "restore",
    "incident",
    "alert",
    "metric",
    "trace",
    "span",
    "service",
    "gateway",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "on",
    "for",
    "with",
    "after",
    "before",
    "during",
    "while",
    "when",
    "then",
    "it",
    "was",
    "is",
    "are",
    "be",
    "has",
    "had",
    "will",
    "would",
]


@dataclass(frozen=True)
class Workload:
    name: str
    texts: list[str]
    per_call: int  # texts per encode_texts call

    def calls(self) -> list[list[str]]:
        return [self.texts[start : start + self.per_call] for start in range(0, len(self.texts), self.per_call)]


def make_text(rng: random.Random, word_count: int) -> str:
    """Pseudo-English sentences of 8-16 words, so the chunker finds sentence ends as in real notes."""
    sentences: list[str] = []
    while word_count > 0:
        length = min(word_count, rng.randint(8, 16))
        sentences.append(" ".join(rng.choices(WORDS, k=length)).capitalize() + ".")
        word_count -= length
    return " ".join(sentences)


def workloads(seed: int = 7) -> list[Workload]:
    rng = random.Random(seed)
    short = [make_text(rng, rng.randint(10, 30)) for _ in range(256)]
    return [
        Workload("short (10-30 words)", short, per_call=256),
        Workload("long (~600 words)", [make_text(rng, 600) for _ in range(24)], per_call=24),
        # What a lone Embed call costs: the micro-batcher's worst case, with nobody to share a call with.
        Workload("short, one per call", short[:64], per_call=1),
    ]


def seconds(encoder: Encoder, load: Workload) -> float:
    """Time to encode all of the workload's texts, in its calls."""
    started = time.perf_counter()
    for texts in load.calls():
        encoder.encode_texts(texts)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: usable CPUs)")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cerebro" / "embedder")
    args = parser.parse_args()

    loads = workloads()
    encoders = {backend: Encoder(backend, num_threads=args.threads, cache_dir=args.cache_dir) for backend in Backend}
    for backend, encoder in encoders.items():
        if encoder.backend is not backend:
            raise SystemExit(f"{backend} fell back to {encoder.backend} at start-up; see the log")
    threads = encoders[Backend.TORCH].num_threads
    print(f"Encoder.encode_texts, {threads} intra-op threads, median of {args.runs} runs\n")
    print("| backend | texts | texts per call | chunks per text | texts/s | chunks/s |")
    print("|---|---|---:|---:|---:|---:|")
    vectors: dict[tuple[Backend, str], np.ndarray] = {}
    for load in loads:
        timings: dict[Backend, list[float]] = {backend: [] for backend in encoders}
        for backend, encoder in encoders.items():
            vectors[backend, load.name] = encoder.encode_texts(load.texts).vectors  # also the warm-up
        for _ in range(args.runs):
            for backend, encoder in encoders.items():
                timings[backend].append(seconds(encoder, load))
        for backend, encoder in encoders.items():
            chunks = sum(len(encoder.chunk(text)) for text in load.texts)
            median = statistics.median(timings[backend])
            print(
                f"| {backend.value} | {load.name} | {load.per_call} | {chunks / len(load.texts):.1f} "
                f"| {len(load.texts) / median:.1f} | {chunks / median:.1f} |"
            )

    print("\n| texts | backend | cosine to torch, min | mean |")
    print("|---|---|---:|---:|")
    for load in loads:
        for backend in (Backend.ONNX, Backend.ONNX_INT8):
            cosines = np.sum(vectors[Backend.TORCH, load.name] * vectors[backend, load.name], axis=1)
            print(f"| {load.name} | {backend.value} | {cosines.min():.7f} | {cosines.mean():.7f} |")


if __name__ == "__main__":
    main()
