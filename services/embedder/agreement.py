"""When vectors of two backends are interchangeable: the check the int8 graph must pass before it serves.

The rule (docs/benchmarks.md has the measurements behind it): a backend's vectors may share the embedding
version of the fp32 reference only if every text's vector has cosine >= `MIN_COSINE` to the reference's
and retrieval quality does not drop. Retrieval quality is measured offline (bench/embedder_quality.py);
the cosine is checked again by the service on `PROBE_TEXTS` every time it loads the int8 graph, so a graph
that would break the rule (another ONNX Runtime kernel, a damaged file, another CPU) never serves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_COSINE = 0.99

_LONG_NOTE = " ".join(
    f"Step {n}: the agent checked the replica in region eu-{n % 3}, found the lag at {n * 7} ms, "
    f"and noted that the backup from the night before had finished without errors."
    for n in range(16)
)

# The kinds of text the service embeds, and the ones quantization hurts most: very short turns, whose
# vector rests on a handful of tokens; plus sentences, other scripts, and notes of several chunks.
PROBE_TEXTS: tuple[str, ...] = (
    "ok",
    "no.",
    "thanks!",
    "hi",
    "yes, ship it",
    "sounds good to me",
    "wait, what?",
    "Can you remind me what we decided about the database migration last Tuesday?",
    "I'll take the on-call shift tonight if you cover Saturday.",
    "The deploy failed at 14:02 because the disk was full.",
    "ARIA prefers concise answers with links to sources.",
    "NEXUS proposed raising the cache size to 4 GB; two of three instances voted yes.",
    "The customer in Lisbon asked for a refund after the second outage this month.",
    "Remember that Priya is allergic to peanuts when ordering for the offsite.",
    "Latency p99 went from 80 ms to 450 ms right after the index rebuild started.",
    "We should rotate the API keys before the audit on the 15th.",
    "The quick brown fox jumps over the lazy dog.",
    "Café naïve façade — Kraków, São Paulo, Ærøskøbing.",
    "東京は日本の首都です。大阪は大きな都市です。",
    "Привет, как дела? Всё хорошо, спасибо.",
    "Emoji 🚀🧠 and math ∑∫√∞ in one line.",
    "error: connection refused (errno 111) while dialing 10.0.3.7:5432",
    "def retry(fn, attempts=3): return fn() if attempts == 1 else fn()",
    "Retro notes: the release slipped a week because the load tests ran against the old schema. We agreed "
    "to run them in CI from now on, to keep a staging database that mirrors production, and to page the "
    "release owner when a migration takes longer than five minutes.",
    _LONG_NOTE,
)


@dataclass(frozen=True, slots=True)
class Agreement:
    """Cosine between two backends' vectors of the same texts."""

    min_cosine: float
    mean_cosine: float
    texts: int

    @property
    def interchangeable(self) -> bool:
        return self.min_cosine >= MIN_COSINE

    def __str__(self) -> str:
        return f"cosine min {self.min_cosine:.4f}, mean {self.mean_cosine:.4f} over {self.texts} texts"


def measure_agreement(
    reference: Callable[[Sequence[str]], np.ndarray],
    candidate: Callable[[Sequence[str]], np.ndarray],
    texts: Sequence[str] = PROBE_TEXTS,
) -> Agreement:
    """Encode `texts` with both (each returning L2-normalised vectors, one per text) and compare them."""
    cosines = np.sum(reference(texts) * candidate(texts), axis=1)
    return Agreement(float(cosines.min()), float(cosines.mean()), len(texts))
