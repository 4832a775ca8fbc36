"""In-process Encoder throughput per backend, short and long texts, printed as a markdown table.

    PYTHONPATH=. .venv/bin/python bench/embedder_inprocess.py [--runs 5] [--threads N]

Each cell is the median of `--runs` timed calls of `Encoder.encode_texts` on one batch, after one warm-up
call. The last table compares the backends' vectors for the same texts (cosine similarity).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import dataclass

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


def median_seconds(encoder: Encoder, load: Workload, runs: int) -> float:
    """Median time to encode all of the workload's texts, in its calls."""
    encoder.encode_texts(load.calls()[0])  # warm-up: first calls allocate and pick kernels
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        for texts in load.calls():
            encoder.encode_texts(texts)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: usable CPUs)")
    args = parser.parse_args()

    loads = workloads()
    encoders = {backend: Encoder(backend, num_threads=args.threads) for backend in Backend}
    threads = encoders[Backend.TORCH].num_threads
    print(f"Encoder.encode_texts, {threads} intra-op threads, median of {args.runs} runs\n")
    print("| backend | texts | texts per call | chunks per text | texts/s | chunks/s |")
    print("|---|---|---:|---:|---:|---:|")
    vectors: dict[tuple[Backend, str], np.ndarray] = {}
    for load in loads:
        for backend, encoder in encoders.items():
            encoded = encoder.encode_texts(load.texts)
            vectors[backend, load.name] = encoded.vectors
            seconds = median_seconds(encoder, load, args.runs)
            chunks = sum(encoded.chunk_counts)
            print(
                f"| {backend.value} | {load.name} | {load.per_call} | {chunks / len(load.texts):.1f} "
                f"| {len(load.texts) / seconds:.1f} | {chunks / seconds:.1f} |"
            )

    print("\n| texts | cosine torch vs onnx, min | mean |")
    print("|---|---:|---:|")
    for load in loads:
        cosines = np.sum(vectors[Backend.TORCH, load.name] * vectors[Backend.ONNX, load.name], axis=1)
        print(f"| {load.name} | {cosines.min():.7f} | {cosines.mean():.7f} |")


if __name__ == "__main__":
    main()
